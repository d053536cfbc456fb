"""What the three `<platform>_webhook` commands share: find the integration, check the URL,
call the platform's register_webhook (the same function as the admin action), print its answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from django.core.management.base import BaseCommand, CommandError, CommandParser

from integrations.models import Integration
from integrations.transports.base import TransportError


class WebhookCommand(BaseCommand):
    platform: ClassVar[str]
    platform_name: ClassVar[str]
    # The platform's setup.register_webhook, as a staticmethod.
    register: ClassVar[Callable[[Integration, str], str]]

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--integration", type=int, required=True)
        parser.add_argument("--base-url", required=True,
                            help="The site's public https URL, e.g. https://chat.example.com")

    def handle(self, *args: Any, **options: Any) -> None:
        integration = Integration.objects.filter(
            pk=options["integration"], platform=self.platform).first()
        if integration is None:
            raise CommandError(f"No {self.platform_name} integration {options['integration']}.")
        base = options["base_url"]
        if not base.startswith(("https://", "http://")):
            raise CommandError(
                f"--base-url must start with https:// ({self.platform_name} needs https).")
        try:
            self.stdout.write(self.register(integration, base))
        except TransportError as exc:
            raise CommandError(exc.message) from None

