"""The chat pages. All of them belong to a signed-in person and show only their own data."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from . import selectors
from .services.payloads import bot_payload, message_payload

SIDEBAR_LIMIT = 100


@login_required
def chat(request: HttpRequest, conversation_id: uuid.UUID | None = None) -> HttpResponse:
    conversation = None
    messages: list[dict[str, object]] = []
    if conversation_id is not None:
        conversation = selectors.conversation_get(request.user, conversation_id)
        if conversation is None:
            raise Http404("Conversation not found")
        messages = [message_payload(m) for m in selectors.visible_messages(conversation)]
    bots = list(selectors.bots_for(request.user))
    default_bot = next((b for b in bots if b.is_default), bots[0] if bots else None)
    context = {
        "conversation": conversation,
        "conversations": selectors.conversations_for(request.user)[:SIDEBAR_LIMIT],
        "bots": bots,
        "chat_state": {
            "conversation": str(conversation.pk) if conversation else None,
            "bot": conversation.bot.slug if conversation else (default_bot.slug if default_bot else None),
            "bots": [bot_payload(b) for b in bots],
            "messages": messages,
            "maxChars": settings.CHATLAB_MAX_MESSAGE_CHARS,
            "strings": _strings(),
        },
    }
    return render(request, "chat/chat.html", context)


def _strings() -> dict[str, str]:
    return {
        "thinking": _("Thinking…"),
        "failed": _("The reply failed."),
        "stopped": _("Stopped."),
        "retry": _("Retry"),
        "regenerate": _("Regenerate"),
        "reconnecting": _("Reconnecting…"),
        "notFound": _("This conversation does not exist."),
        "tooLong": _("This message is too long."),
    }
