"""The Celery app. Queues: `chat` (replies for messengers, titles), `images`, `maintenance`."""

import os

from celery import Celery, signals

from chatlab_site.gc_freeze import on_worker_start

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatlab_site.settings")

app = Celery("chatlab")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Each worker process (the main one for the threads pool, every child for prefork) freezes its
# start-up objects so that full collections do not stop its shared event loop for ~100 ms.
signals.worker_init.connect(on_worker_start, weak=False)
signals.worker_process_init.connect(on_worker_start, weak=False)
