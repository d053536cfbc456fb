"""Makes sure a fresh install has a bot to talk to: a real one when OPENAI_API_KEY is set,
otherwise the offline demo bot. Existing bots and providers are never changed."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils.text import slugify
from modeltranslation.utils import build_localized_fieldname

from conversations.models import Bot, Provider

# The seeded bots' texts in every interface language (admins edit them in the bot's tabs).
DEMO_NAME = {
    "en": "Demo bot", "ru": "Демо-бот", "de": "Demo-Bot", "es": "Bot de demostración",
    "fr": "Bot de démonstration", "zh-hans": "演示机器人",
}
DEMO_DESCRIPTION = {
    "en": "Works offline: shows how Chatlab streams, without a model.",
    "ru": "Работает без сети: показывает, как Chatlab передаёт ответ по частям, без модели.",
    "de": "Funktioniert offline: zeigt ohne Modell, wie Chatlab Antworten streamt.",
    "es": "Funciona sin conexión: muestra cómo Chatlab transmite las respuestas, sin ningún modelo.",
    "fr": "Fonctionne hors ligne : montre comment Chatlab diffuse les réponses, sans modèle.",
    "zh-hans": "离线可用：无需模型即可演示 Chatlab 如何流式输出回复。",
}
DEMO_WELCOME = {
    "en": "This is the offline demo. Write in any language: the reply comes back in it.",
    "ru": "Это офлайн-демо. Пишите на любом языке — ответ придёт на нём же.",
    "de": "Das ist die Offline-Demo. Schreiben Sie in einer beliebigen Sprache: Die Antwort kommt in derselben.",
    "es": "Esta es la demo sin conexión. Escribe en cualquier idioma: la respuesta llegará en ese mismo idioma.",
    "fr": "Ceci est la démo hors ligne. Écrivez dans la langue de votre choix : la réponse arrive dans la même.",
    "zh-hans": "这是离线演示。用任何语言提问，都会用同一种语言回答。",
}
ASSISTANT_NAME = {
    "en": "Assistant", "ru": "Ассистент", "de": "Assistent", "es": "Asistente",
    "fr": "Assistant", "zh-hans": "助手",
}
ASSISTANT_PROMPT = {
    "en": "You are a helpful assistant. Answer clearly and concisely.",
    "ru": "Ты — полезный ассистент. Отвечай ясно и по существу.",
    "de": "Du bist ein hilfreicher Assistent. Antworte klar und knapp.",
    "es": "Eres un asistente útil. Responde con claridad y de forma concisa.",
    "fr": "Tu es un assistant serviable. Réponds de façon claire et concise.",
    "zh-hans": "你是一个乐于助人的助手。请清晰、简洁地回答。",
}


def translated(field: str, texts: dict[str, str]) -> dict[str, str]:
    """The field in every interface language, plus the plain column in the default one."""
    values = {build_localized_fieldname(field, code): text for code, text in texts.items()}
    values[field] = texts.get(settings.MODELTRANSLATION_DEFAULT_LANGUAGE, texts["en"])
    return values


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
                    **translated("name", ASSISTANT_NAME),
                    "description": f"{settings.OPENAI_MODEL} through {provider.name}",
                    "provider": provider,
                    "model": settings.OPENAI_MODEL,
                    **translated("system_prompt", ASSISTANT_PROMPT),
                    "is_default": not has_default,
                },
            )
            has_default = has_default or made
            if made:
                self.stdout.write(f"Seeded bot {bot.slug!r} on {provider.name}.")
            if settings.OPENAI_IMAGE_MODEL:
                self._seed_image_model(provider, settings.OPENAI_IMAGE_MODEL)
        bot, made = Bot.objects.get_or_create(
            slug="demo",
            defaults={
                **translated("name", DEMO_NAME),
                **translated("description", DEMO_DESCRIPTION),
                **translated("welcome", DEMO_WELCOME),
                "provider": demo,
                "model": "demo",
                "is_default": not has_default,
                "position": 100,
            },
        )
        if made:
            self.stdout.write("Seeded the offline demo bot.")

    def _seed_image_model(self, provider: Provider, model: str) -> None:
        from imaging.models import ImageModel

        image_model, made = ImageModel.objects.get_or_create(
            slug=slugify(model)[:60] or "openai-images",
            defaults={"name": model, "provider": provider, "model": model},
        )
        if not made:
            return
        # A real model takes over from the offline demo drawing, unless an admin chose another.
        defaults = ImageModel.objects.filter(is_default=True).exclude(pk=image_model.pk)
        if all(m.is_demo for m in defaults.select_related("provider")):
            defaults.update(is_default=False)
            ImageModel.objects.filter(pk=image_model.pk).update(is_default=True)
        self.stdout.write(f"Seeded image model {model!r} on {provider.name}.")
