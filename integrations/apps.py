"""Telegram, Discord and Slack bots over webhooks (issue #9)."""
from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations"

    def ready(self) -> None:
        from conversations.hooks import replies_interrupted
        from imaging.hooks import image_job_finished

        from .services.images import on_image_job_finished
        from .services.interrupted import on_replies_interrupted

        image_job_finished.connect(on_image_job_finished, dispatch_uid="integrations-images")
        replies_interrupted.connect(on_replies_interrupted,
                                    dispatch_uid="integrations-interrupted")

    def warm_up(self) -> None:
        """Called by a web process before it serves (chatlab_site.gc_freeze): aiogram's types
        cost 3-4 s of CPU to import, which the first Telegram update would otherwise wait for
        (the URLconf leaves them out, so other processes and tests do not pay for them)."""
        from .telegram import parse  # noqa: F401
