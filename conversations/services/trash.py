"""The trash: deleting moves a conversation here; it can be restored until it expires."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from conversations import selectors
from conversations.models import Conversation

from .errors import ChatError


def _not_found() -> ChatError:
    return ChatError("not_found", _("Conversation not found."), status=404)


def conversation_trash(*, user: User, conversation_id: uuid.UUID | str) -> None:
    try:
        moved = selectors.conversations_for(user).filter(pk=conversation_id).update(
            deleted_at=timezone.now()
        )
    except (ValueError, TypeError):
        moved = 0
    if not moved:
        raise _not_found()


def conversation_restore(*, user: User, conversation_id: uuid.UUID | str) -> Conversation:
    try:
        conversation = selectors.trashed_conversations(user).filter(pk=conversation_id).first()
    except (ValueError, TypeError):
        conversation = None
    if conversation is None:
        raise _not_found()
    Conversation.objects.filter(pk=conversation.pk).update(deleted_at=None)
    conversation.deleted_at = None
    return conversation


@transaction.atomic
def conversation_delete_forever(*, user: User, conversation_id: uuid.UUID | str) -> None:
    try:
        deleted, _ = selectors.trashed_conversations(user).filter(pk=conversation_id).delete()
    except (ValueError, TypeError):
        deleted = 0
    if not deleted:
        raise _not_found()


@transaction.atomic
def trash_empty(*, user: User) -> int:
    return selectors.trashed_conversations(user).delete()[1].get("conversations.Conversation", 0)


@transaction.atomic
def trash_empty_expired(*, now: object = None) -> int:
    """Deletes what has been in the trash longer than CHATLAB_TRASH_RETENTION_DAYS."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.CHATLAB_TRASH_RETENTION_DAYS)
    _, counts = Conversation.objects.filter(deleted_at__lt=cutoff).delete()
    return counts.get("conversations.Conversation", 0)
