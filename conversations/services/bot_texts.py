"""A bot's translated texts (conversations/translation.py) for a reply's language, which is a
detector code ("zh", "pt") rather than an interface language ("zh-hans")."""

from __future__ import annotations

from django.conf import settings
from django.utils import translation
from modeltranslation.utils import build_localized_fieldname, resolution_order

from conversations.models import Bot


def interface_language(code: str) -> str:
    """The interface language closest to a detected one, else the site's default."""
    try:
        return translation.get_supported_language_variant(code)
    except LookupError:
        return settings.MODELTRANSLATION_DEFAULT_LANGUAGE


def bot_text(bot: Bot, field: str, language: str) -> str:
    """The bot's ``field`` written for ``language``, else in the fallback languages."""
    for code in resolution_order(interface_language(language)):
        value = getattr(bot, build_localized_fieldname(field, code), None)
        if value:
            return value
    return ""


def bot_system_prompt(bot: Bot, language: str) -> str:
    """The prompt the model gets: in the reply's language where the admin wrote one."""
    return bot_text(bot, "system_prompt", language)
