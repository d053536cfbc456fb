"""manage.py discord_webhook --integration ID --base-url URL: the admin's "register webhook"."""

from __future__ import annotations

from integrations.management.webhook_command import WebhookCommand
from integrations.models import Platform
from integrations.discord.setup import register_webhook


class Command(WebhookCommand):
    help = ("Registers a Discord integration's slash commands and sets its Interactions "
            "Endpoint URL.")
    platform = Platform.DISCORD
    platform_name = "Discord"
    register = staticmethod(register_webhook)
