"""What admins write about a bot, in every interface language (django-modeltranslation).

Reading bot.name gives the active language's text, or the default language's where that one
is empty (MODELTRANSLATION_FALLBACK_LANGUAGES); the admin edits them side by side in tabs.
"""

from django.conf import settings
from modeltranslation.translator import TranslationOptions, register

from .models import Bot


@register(Bot)
class BotTranslationOptions(TranslationOptions):
    fields = ("name", "description", "system_prompt", "welcome")
    # Only the default language's name must be there; every other text may fall back.
    required_languages = {settings.MODELTRANSLATION_DEFAULT_LANGUAGE: ("name",)}
