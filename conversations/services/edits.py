"""Editing the last user message: the edit is a new message with a new reply; the old message
and its replies stay, superseded, as previous versions."""

from __future__ import annotations

import uuid

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from accounts.roles import policy_for
from conversations import selectors
from conversations.models import Conversation, Message

from .errors import ChatError
from .language import message_language
from .message_text import clean_content
from .messages import _check_bot, _check_quota


def message_edit(
    *,
    user: User,
    message_id: uuid.UUID | str,
    content: object,
    reply_status: str = Message.Status.PENDING,
) -> tuple[Message, Message, list[str]]:
    """(the new user message, its empty reply, ids of the messages it supersedes)."""
    text = clean_content(content)
    policy = policy_for(user)
    _check_quota(user, new_message=True, policy=policy)
    with transaction.atomic():
        try:
            old = (
                Message.objects.select_for_update(of=("self",))
                .select_related("conversation__bot__provider")
                .filter(pk=message_id, conversation__owner=user,
                        conversation__deleted_at__isnull=True, role=Message.Role.USER)
                .first()
            )
        except (ValueError, TypeError):
            old = None
        if old is None:
            raise ChatError("not_found", _("Message not found."), status=404)
        if old.superseded_at is not None:
            raise ChatError("stale", _("This message was already edited."), status=409)
        conversation = old.conversation
        _check_bot(user, conversation.bot, policy)
        if selectors.active_replies(conversation.pk).exists():
            raise ChatError("busy", _("A reply is still being written. Stop it or wait for it."), 409)
        later = list(
            selectors.visible_messages(conversation)
            .filter(created_at__gte=old.created_at)
            .values_list("pk", "role", "reply_to_id")
        )
        if any(pk != old.pk and reply_to != old.pk for pk, _, reply_to in later):
            raise ChatError("not_last", _("Only the last message can be edited."), status=409)
        now = timezone.now()
        superseded = [str(pk) for pk, _, _ in later]
        Message.objects.filter(pk__in=[pk for pk, _, _ in later]).update(
            superseded_at=now, updated_at=now
        )
        language = message_language(text, old.language or conversation.language, user.language)
        message = Message.objects.create(
            conversation=conversation, role=Message.Role.USER, content=text, replaces=old,
            language=language,
        )
        reply = Message.objects.create(
            conversation=conversation, role=Message.Role.ASSISTANT, status=reply_status,
            reply_to=message, model=conversation.bot.model,
        )
        Conversation.objects.filter(pk=conversation.pk).update(updated_at=now, language=language)
        conversation.language = language
    message.conversation = reply.conversation = conversation
    conversation.owner = user
    return message, reply, superseded


def previous_versions(messages: list[Message]) -> dict[str, list[dict[str, str]]]:
    """For each visible message that has earlier versions, those versions (oldest first), keyed
    by the visible message's id. Works on the conversation's messages already read (all of them,
    superseded included, oldest first): no query of its own."""
    by_id = {m.pk: m for m in messages}
    old_replies: dict[object, list[Message]] = {}
    for m in messages:
        if m.role == Message.Role.ASSISTANT and m.superseded_at is not None:
            old_replies.setdefault(m.reply_to_id, []).append(m)
    # The last reply each message got, so an earlier question is shown with its answer.
    answers: dict[object, Message] = {}
    for m in messages:
        if m.role == Message.Role.ASSISTANT and m.reply_to_id is not None:
            answers[m.reply_to_id] = m
    versions: dict[str, list[dict[str, str]]] = {}
    # A user message's versions: follow `replaces` back. A reply's: the superseded replies to
    # the same user message.
    for m in messages:
        if m.superseded_at is not None:
            continue
        chain: list[Message] = []
        if m.role == Message.Role.USER:
            earlier = by_id.get(m.replaces_id)
            while earlier is not None and len(chain) < 100:
                chain.append(earlier)
                earlier = by_id.get(earlier.replaces_id)
            chain.reverse()
        else:
            chain = old_replies.get(m.reply_to_id, [])
        if chain:
            versions[str(m.pk)] = [_version(v, answers) for v in chain]
    return versions


def _version(message: Message, answers: dict[object, Message]) -> dict[str, str]:
    version = {"id": str(message.pk), "content": message.content, "status": message.status}
    answer = answers.get(message.pk) if message.role == Message.Role.USER else None
    if answer is not None:
        version["answer"] = answer.content
    return version


def conversation_thread(conversation: Conversation) -> tuple[list[Message], dict[str, list]]:
    """The visible thread and its previous versions, in one query."""
    messages = list(conversation.messages.order_by("created_at"))
    visible = [m for m in messages if m.superseded_at is None]
    return visible, previous_versions(messages)
