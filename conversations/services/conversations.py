"""Conversation writes for the API and pages: create, rename, delete."""

from __future__ import annotations

import uuid

from django.db import transaction

from accounts.models import User
from conversations import selectors
from conversations.models import Conversation

from .errors import ChatError
from .messages import _check_bot, _pick_bot


def conversation_create(*, user: User, bot_slug: str | None = None, title: str = "") -> Conversation:
    bot = _pick_bot(user, bot_slug or None)
    _check_bot(user, bot)
    return Conversation.objects.create(owner=user, bot=bot, title=title.strip()[:200])


def conversation_rename(*, user: User, conversation_id: uuid.UUID | str, title: str) -> Conversation:
    title = " ".join((title or "").split())[:200]
    if not title:
        raise ChatError("invalid", "A title cannot be empty.")
    conversation = selectors.conversation_get(user, conversation_id)
    if conversation is None:
        raise ChatError("not_found", "Conversation not found.", status=404)
    Conversation.objects.filter(pk=conversation.pk).update(title=title)
    conversation.title = title
    return conversation


@transaction.atomic
def conversation_delete(*, user: User, conversation_id: uuid.UUID | str) -> None:
    deleted, _ = selectors.conversations_for(user).filter(pk=conversation_id).delete()
    if not deleted:
        raise ChatError("not_found", "Conversation not found.", status=404)
