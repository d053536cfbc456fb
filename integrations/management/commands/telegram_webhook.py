"""manage.py telegram_webhook --integration ID --base-url URL: setWebhook, as the admin action."""

from __future__ import annotations

from integrations.management.webhook_command import WebhookCommand
from integrations.models import Platform
from integrations.telegram.setup import register_webhook


class Command(WebhookCommand):
    help = "Registers a Telegram integration's webhook (URL and secret) with Telegram."
    platform = Platform.TELEGRAM
    platform_name = "Telegram"
    register = staticmethod(register_webhook)
