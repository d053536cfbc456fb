"""manage.py slack_webhook --integration ID --base-url URL: the admin's "register webhook"."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from integrations.models import Integration, Platform
from integrations.slack.setup import register_webhook
from integrations.transports.base import TransportError


class Command(BaseCommand):
    help = ("Checks a Slack integration's bot token and prints the Request URL to paste in the "
            "Slack app's settings.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--integration", type=int, required=True)
        parser.add_argument("--base-url", required=True,
                            help="The site's public https URL, e.g. https://chat.example.com")

    def handle(self, *args: Any, **options: Any) -> None:
        integration = Integration.objects.filter(
            pk=options["integration"], platform=Platform.SLACK).first()
        if integration is None:
            raise CommandError(f"No Slack integration {options['integration']}.")
        base = options["base_url"]
        if not base.startswith(("https://", "http://")):
            raise CommandError("--base-url must start with https://")
        try:
            self.stdout.write(register_webhook(integration, base))
        except TransportError as exc:
            raise CommandError(exc.message) from None
