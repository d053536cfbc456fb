"""manage.py slack_webhook --integration ID --base-url URL: the admin's "register webhook"."""

from __future__ import annotations

from integrations.management.webhook_command import WebhookCommand
from integrations.models import Platform
from integrations.slack.setup import register_webhook


class Command(WebhookCommand):
    help = ("Checks a Slack integration's bot token and prints the Request URL to paste in "
            "the Slack app's settings.")
    platform = Platform.SLACK
    platform_name = "Slack"
    register = staticmethod(register_webhook)
