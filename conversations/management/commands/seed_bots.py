"""Makes sure a fresh install has a bot to talk to: a real one when OPENAI_API_KEY is set,
otherwise the offline demo bot. Existing bots and providers are never changed."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from conversations.models import Bot, Provider


class Command(BaseCommand):
    help = "Create the demo bot, and an OpenAI bot when OPENAI_API_KEY is set (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        demo, _ = Provider.objects.get_or_create(name="Demo", defaults={"kind": Provider.Kind.DEMO})
        has_default = Bot.objects.filter(is_default=True).exists()
        if settings.OPENAI_API_KEY:
            provider, created = Provider.objects.get_or_create(
                name="OpenAI",
                defaults={
                    "kind": Provider.Kind.OPENAI,
                    "base_url": settings.OPENAI_BASE_URL,
                    "api_key": settings.OPENAI_API_KEY,
                },
            )
            bot, made = Bot.objects.get_or_create(
                slug="assistant",
                defaults={
                    "name": "Assistant",
                    "description": f"{settings.OPENAI_MODEL} through {provider.name}",
                    "provider": provider,
                    "model": settings.OPENAI_MODEL,
                    "system_prompt": "You are a helpful assistant. Answer clearly and concisely.",
                    "is_default": not has_default,
                },
            )
            has_default = has_default or made
            if made:
                self.stdout.write(f"Seeded bot {bot.slug!r} on {provider.name}.")
        bot, made = Bot.objects.get_or_create(
            slug="demo",
            defaults={
                "name": "Demo bot",
                "description": "Works offline: shows how Chatlab streams, without a model.",
                "provider": demo,
                "model": "demo",
                "is_default": not has_default,
                "position": 100,
            },
        )
        if made:
            self.stdout.write("Seeded the offline demo bot.")
