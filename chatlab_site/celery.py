"""The Celery app. Queues: `chat` (replies for messengers, titles), `images`, `maintenance`."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatlab_site.settings")

app = Celery("chatlab")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
