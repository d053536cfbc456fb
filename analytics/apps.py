from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AnalyticsConfig(AppConfig):
    name = "analytics"
    verbose_name = _("Analytics and logs")

    def ready(self) -> None:
        from . import signals  # noqa: F401
        from .request_ids import connect_celery_signals

        connect_celery_signals()
