"""Conversation writes for the API and pages: create, rename, pin, archive, delete (to the trash)."""

from __future__ import annotations

import uuid

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from conversations import selectors
from conversations.models import Channel, Conversation

from .errors import ChatError
from .messages import _check_bot, _pick_bot
from .trash import conversation_trash


def conversation_create(*, user: User, bot_slug: str | None = None, title: str = "",
                        channel: str = Channel.WEB) -> Conversation:
    bot = _pick_bot(user, bot_slug or None)
    _check_bot(user, bot)
    return Conversation.objects.create(owner=user, bot=bot, title=title.strip()[:200],
                                       channel=channel)


def conversation_rename(*, user: User, conversation_id: uuid.UUID | str, title: str) -> Conversation:
    title = " ".join((title or "").split())[:200]
    if not title:
        raise ChatError("invalid", _("A title cannot be empty."))
    conversation = selectors.conversation_get(user, conversation_id)
    if conversation is None:
        raise ChatError("not_found", _("Conversation not found."), status=404)
    Conversation.objects.filter(pk=conversation.pk).update(title=title)
    conversation.title = title
    return conversation


def conversation_delete(*, user: User, conversation_id: uuid.UUID | str) -> None:
    """Moves the conversation to the trash (restorable until CHATLAB_TRASH_RETENTION_DAYS)."""
    conversation_trash(user=user, conversation_id=conversation_id)


def conversation_update(
    *,
    user: User,
    conversation_id: uuid.UUID | str,
    title: str | None = None,
    pinned: bool | None = None,
    archived: bool | None = None,
) -> Conversation:
    """Rename, pin or unpin, archive or unarchive, in one write."""
    conversation = selectors.conversation_get(user, conversation_id)
    if conversation is None:
        raise ChatError("not_found", _("Conversation not found."), status=404)
    changes: dict[str, object] = {}
    if title is not None:
        title = " ".join(title.split())[:200]
        if not title:
            raise ChatError("invalid", _("A title cannot be empty."))
        changes["title"] = title
    now = timezone.now()
    if pinned is not None and pinned != (conversation.pinned_at is not None):
        changes["pinned_at"] = now if pinned else None
    if archived is not None and archived != (conversation.archived_at is not None):
        changes["archived_at"] = now if archived else None
    if changes:
        Conversation.objects.filter(pk=conversation.pk).update(**changes)
        for name, value in changes.items():
            setattr(conversation, name, value)
    return conversation
