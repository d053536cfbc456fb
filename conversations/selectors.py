"""Reads, always scoped to the person asking."""

from __future__ import annotations

import uuid

from django.db.models import F, QuerySet

from accounts.models import User
from accounts.models import Role, RolePolicy
from accounts.roles import policy_for

from .models import Bot, Conversation, ImportJob, Message


def bots_for(user: User | None, policy: RolePolicy | None = None) -> QuerySet[Bot]:
    """The active bots this person's role may use."""
    bots = Bot.objects.active().order_by("position", "name")
    policy = policy or policy_for(user)
    if policy is None or policy.role == Role.GUEST:
        # Guests try the default bot only.
        return bots.filter(is_default=True)
    if policy is not None and not policy.all_bots:
        bots = bots.filter(pk__in=policy.bots.values("pk"))
    return bots


def conversations_for(user: User) -> QuerySet[Conversation]:
    """The person's conversations outside the trash, newest first."""
    return (
        Conversation.objects.filter(owner=user, deleted_at__isnull=True)
        .select_related("bot")
        .order_by("-updated_at")
    )


def sidebar_conversations(user: User) -> QuerySet[Conversation]:
    """Pinned first (most recently pinned on top), then the rest newest first; no archived."""
    return conversations_for(user).filter(archived_at__isnull=True).order_by(
        F("pinned_at").desc(nulls_last=True), "-updated_at"
    )


def archived_conversations(user: User) -> QuerySet[Conversation]:
    return conversations_for(user).filter(archived_at__isnull=False)


def trashed_conversations(user: User) -> QuerySet[Conversation]:
    return (
        Conversation.objects.filter(owner=user, deleted_at__isnull=False)
        .select_related("bot")
        .order_by("-deleted_at")
    )


def import_jobs_for(user: User) -> QuerySet[ImportJob]:
    return ImportJob.objects.filter(owner=user)


def conversation_get(user: User, conversation_id: uuid.UUID | str) -> Conversation | None:
    try:
        return conversations_for(user).get(pk=conversation_id)
    except (Conversation.DoesNotExist, ValueError, TypeError):
        return None


def visible_messages(conversation: Conversation) -> QuerySet[Message]:
    """The thread as shown: superseded replies (regenerated ones) are left out."""
    return conversation.messages.filter(superseded_at__isnull=True).order_by("created_at")


def message_get(user: User, message_id: uuid.UUID | str) -> Message | None:
    try:
        return Message.objects.select_related("conversation").get(
            pk=message_id, conversation__owner=user, conversation__deleted_at__isnull=True
        )
    except (Message.DoesNotExist, ValueError, TypeError):
        return None


def active_replies(conversation_id: uuid.UUID | str) -> QuerySet[Message]:
    return Message.objects.filter(
        conversation_id=conversation_id,
        role=Message.Role.ASSISTANT,
        status__in=Message.ACTIVE,
    )
