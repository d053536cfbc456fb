"""Telegram, Discord and Slack bots over webhooks (issue #9)."""
from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations"

    def ready(self) -> None:
        from imaging.hooks import image_job_finished

        from .services.images import on_image_job_finished

        image_job_finished.connect(on_image_job_finished, dispatch_uid="integrations-images")
