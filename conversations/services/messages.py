"""Writes that start, repeat and stop replies. Every entry point (socket, API, messengers) calls
these; none of them talks to a model: that is the generation service's job."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Role, RolePolicy, User
from accounts.roles import policies_for, policy_for
from accounts.services.quotas import (
    QuotaExceeded,
    bot_allowed,
    quota_check_message,
    usage_today_many,
)
from conversations import selectors
from conversations.models import Bot, Channel, Conversation, Message

from .errors import ChatError
from .language import message_language
from .message_text import clean_content

TITLE_CHARS = 60


@dataclass(frozen=True)
class SentMessage:
    conversation: Conversation
    user_message: Message
    reply: Message
    created_conversation: bool
    # False when the same client_id was sent before: nothing new was stored or started.
    is_new: bool
    # The sender's role policy as read for this send, so the reply need not read it again.
    policy: RolePolicy | None = None
    # The first message of a conversation made empty (REST API): as for a new conversation,
    # its history is just this message, and its reply completes the first exchange.
    first_message: bool = False


def _parse_client_id(client_id: object) -> uuid.UUID | None:
    if client_id in (None, ""):
        return None
    try:
        return uuid.UUID(str(client_id))
    except ValueError:
        raise ChatError("invalid", _("client_id must be a UUID.")) from None


def _pick_bot(user: User, bot_slug: str | None, policy: RolePolicy | None = None) -> Bot:
    bots = selectors.bots_for(user, policy).select_related("provider")
    bot = bots.filter(slug=bot_slug).first() if bot_slug else None
    if bot_slug and bot is None:
        raise ChatError("unknown_bot", _("That bot does not exist or is switched off."), status=404)
    bot = bot or bots.filter(is_default=True).first() or bots.first()
    if bot is None:
        raise ChatError("no_bot", _("No bot is available. An administrator needs to add one."))
    return bot


def _check_quota(user: User, *, new_message: bool, policy: RolePolicy | None = None) -> None:
    try:
        quota_check_message(user, new_message=new_message, policy=policy)
    except QuotaExceeded as exc:
        raise ChatError("quota", exc.text, status=429, retry_after=exc.retry_after) from None


def _check_bot(user: User, bot: Bot, policy: RolePolicy | None = None) -> None:
    if not (bot.is_active and bot.provider.is_active):
        raise ChatError("bot_inactive", _("This conversation's bot has been switched off."), 409)
    if not bot_allowed(policy or selectors.policy_for(user), bot.pk):
        raise ChatError("bot_not_allowed", _("Your role may not use this bot."), status=403)


def _title_from(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1].rstrip() + "…"


def _replay(user: User, client_id: uuid.UUID) -> SentMessage | None:
    earlier = (
        Message.objects.select_related("conversation__bot")
        .filter(client_id=client_id, conversation__owner=user)
        .first()
    )
    if earlier is None:
        return None
    reply = (
        earlier.replies.filter(superseded_at__isnull=True).order_by("-created_at").first()
        or earlier.replies.order_by("-created_at").first()
    )
    if reply is None:
        return None
    return SentMessage(earlier.conversation, earlier, reply, False, is_new=False)


def _conversation_for_send(
    user: User,
    conversation_id: uuid.UUID | str | None,
    bot_slug: str | None,
    text: str,
    policy: RolePolicy | None,
    new_id: uuid.UUID | None = None,
    channel: str = Channel.WEB,
) -> tuple[Conversation, bool]:
    if not conversation_id:
        bot = _pick_bot(user, bot_slug, policy)
        conversation = Conversation.objects.create(
            id=new_id or uuid.uuid4(), owner=user, bot=bot, title=_title_from(text),
            language=message_language(text, "", user.language), channel=channel,
        )
        return conversation, True
    conversation = (
        selectors.conversations_for(user)
        .select_related("bot__provider")
        .select_for_update(of=("self",))
        .filter(pk=conversation_id)
        .first()
    )
    if conversation is None:
        raise ChatError("not_found", _("Conversation not found."), status=404)
    _check_bot(user, conversation.bot, policy)
    if selectors.active_replies(conversation.pk).exists():
        raise ChatError("busy", _("A reply is still being written. Stop it or wait for it."), 409)
    return conversation, False


def message_send(
    *,
    user: User,
    content: object,
    conversation_id: uuid.UUID | str | None = None,
    bot_slug: str | None = None,
    client_id: object = None,
    reply_status: str = Message.Status.PENDING,
    ids: tuple[uuid.UUID, uuid.UUID] | None = None,
    channel: str = Channel.WEB,
) -> SentMessage:
    """Stores the person's message and an empty reply for the generation service to fill.

    ``reply_status`` is STREAMING when the caller starts the reply in its own process at once
    (saving a write), PENDING when it hands the reply to a queue. ``ids`` (a new
    conversation's id, the reply's id) are given by a caller that already asked the model
    under those ids (services.early). ``channel`` marks where a new conversation started.
    """
    text = clean_content(content)
    cid = _parse_client_id(client_id)
    try:
        return _store(user, text, cid, conversation_id, bot_slug, reply_status, ids, channel)
    except (ChatError, IntegrityError) as exc:
        # A retried send (same client_id) answers with what the first one stored, even when
        # its reply is still running or the quota is now used up. Only then is it looked up,
        # so an ordinary send pays nothing for this.
        if cid and (replayed := _replay(user, cid)):
            return replayed
        if isinstance(exc, IntegrityError):  # someone else's client_id
            raise ChatError("duplicate", _("This message was already sent."), status=409) from None
        raise


def _store(
    user: User,
    text: str,
    cid: uuid.UUID | None,
    conversation_id: uuid.UUID | str | None,
    bot_slug: str | None,
    reply_status: str,
    ids: tuple[uuid.UUID, uuid.UUID] | None = None,
    channel: str = Channel.WEB,
) -> SentMessage:
    # The role is read once per send: every check below uses the same policy.
    policy = policy_for(user)
    _check_quota(user, new_message=True, policy=policy)
    with transaction.atomic():
        conversation, created = _conversation_for_send(
            user, conversation_id, bot_slug, text, policy, ids[0] if ids else None, channel
        )
        # The same text and fallbacks as build_request's, so an early start still matches.
        language = message_language(text, conversation.language, user.language)
        user_message = Message.objects.create(
            conversation=conversation, role=Message.Role.USER, content=text, client_id=cid,
            language=language,
        )
        reply = Message.objects.create(
            id=ids[1] if ids else uuid.uuid4(),
            conversation=conversation,
            role=Message.Role.ASSISTANT,
            status=reply_status,
            reply_to=user_message,
            model=conversation.bot.model,
        )
        first_message = False
        if not created:
            now = timezone.now()
            changes: dict[str, object] = {"updated_at": now, "language": language}
            if not conversation.title:
                # Made without a title (REST API): titled by its first message, as a
                # conversation started on the site is, so automatic titles apply to it too.
                first = (conversation.messages.filter(role=Message.Role.USER)
                         .exclude(pk=user_message.pk).order_by("created_at")
                         .values_list("content", flat=True).first())
                first_message = first is None
                changes["title"] = _title_from(text if first is None else first)
            Conversation.objects.filter(pk=conversation.pk).update(**changes)
            for name, value in changes.items():
                setattr(conversation, name, value)
    conversation.owner = user  # already known; spares the generation service a query
    return SentMessage(conversation, user_message, reply, created, is_new=True, policy=policy,
                       first_message=first_message)


def reply_regenerate(
    *, user: User, message_id: uuid.UUID | str, reply_status: str = Message.Status.PENDING
) -> Message:
    """Writes a new reply to the last user message; the old reply is kept as superseded.

    Used both to regenerate a finished reply and to retry a failed or interrupted one.
    """
    with transaction.atomic():
        old = (
            Message.objects.select_for_update(of=("self",))
            .select_related("conversation__bot__provider")
            .filter(pk=message_id, conversation__owner=user, role=Message.Role.ASSISTANT,
                    conversation__deleted_at__isnull=True)
            .first()
        )
        if old is None:
            raise ChatError("not_found", _("Message not found."), status=404)
        if old.is_active:
            raise ChatError("busy", _("This reply is still being written."), status=409)
        if old.superseded_at is not None:
            raise ChatError("stale", _("This reply was already regenerated."), status=409)
        conversation = old.conversation
        last = selectors.visible_messages(conversation).last()
        if last is None or last.pk != old.pk:
            raise ChatError("not_last", _("Only the last reply can be regenerated."), status=409)
        _check_bot(user, conversation.bot)
        _check_quota(user, new_message=False)
        now = timezone.now()
        Message.objects.filter(pk=old.pk).update(superseded_at=now)
        reply = Message.objects.create(
            conversation=conversation,
            role=Message.Role.ASSISTANT,
            status=reply_status,
            reply_to_id=old.reply_to_id,
            model=conversation.bot.model,
        )
        Conversation.objects.filter(pk=conversation.pk).update(updated_at=now)
    return reply


@dataclass(frozen=True)
class NewConversationSend:
    """One first message of a new conversation, as message_send takes it."""

    user: User
    content: object
    bot_slug: str | None = None
    client_id: object = None
    reply_status: str = Message.Status.PENDING
    ids: tuple[uuid.UUID, uuid.UUID] | None = None


def new_conversations_send(sends: list[NewConversationSend]) -> list[SentMessage | ChatError]:
    """message_send for many first messages at once, in one transaction and a fixed number of
    queries however many there are (roles, today's usage, bots, three bulk inserts).

    A busy web process hands its sockets' first messages here together (group commit): the same
    checks as one by one, at a fraction of the CPU. Each send gets its own result: a stored
    SentMessage, or the ChatError that refused it. If the inserts fail (a client_id seen
    before), every send that got that far is stored one by one instead, which also answers
    repeats with what was stored the first time.
    """
    results: list[SentMessage | ChatError | None] = [None] * len(sends)
    users = list({s.user.pk: s.user for s in sends}.values())
    policies = policies_for(users)
    usage = usage_today_many(users)
    bots = list(Bot.objects.active().select_related("provider").order_by("position", "name"))
    allowed = {
        policy.pk: set(policy.bots.values_list("pk", flat=True))
        for policy in {p.pk: p for p in policies.values() if p is not None}.values()
        if policy.role != Role.GUEST and not policy.all_bots
    }
    planned: list[tuple[int, Conversation, Message, Message]] = []
    for index, send in enumerate(sends):
        policy = policies[send.user.pk]
        try:
            text = clean_content(send.content)
            cid = _parse_client_id(send.client_id)
            try:
                quota_check_message(send.user, usage=usage[send.user.pk], policy=policy)
            except QuotaExceeded as exc:
                raise ChatError("quota", exc.text, status=429,
                                retry_after=exc.retry_after) from None
            bot = _pick_from(bots, policy, allowed, send.bot_slug)
        except ChatError as exc:
            results[index] = exc
            continue
        conversation_id, reply_id = send.ids or (uuid.uuid4(), uuid.uuid4())
        language = message_language(text, "", send.user.language)
        conversation = Conversation(id=conversation_id, owner=send.user, bot=bot,
                                    title=_title_from(text), language=language)
        user_message = Message(conversation=conversation, role=Message.Role.USER, content=text,
                               client_id=cid, language=language)
        reply = Message(id=reply_id, conversation=conversation, role=Message.Role.ASSISTANT,
                        status=send.reply_status, reply_to=user_message, model=bot.model)
        planned.append((index, conversation, user_message, reply))
    try:
        with transaction.atomic():
            Conversation.objects.bulk_create([p[1] for p in planned])
            # Two statements, so every reply is stored after the message it answers.
            Message.objects.bulk_create([p[2] for p in planned])
            Message.objects.bulk_create([p[3] for p in planned])
    except IntegrityError:
        for index, *_rest in planned:
            send = sends[index]
            try:
                results[index] = message_send(
                    user=send.user, content=send.content, bot_slug=send.bot_slug,
                    client_id=send.client_id, reply_status=send.reply_status, ids=send.ids,
                )
            except ChatError as exc:
                results[index] = exc
        return [r for r in results if r is not None]
    for index, conversation, user_message, reply in planned:
        results[index] = SentMessage(conversation, user_message, reply, True, is_new=True,
                                     policy=policies[sends[index].user.pk])
    return [r for r in results if r is not None]


def _pick_from(
    bots: list[Bot], policy: RolePolicy | None, allowed: dict[int, set[int]], slug: str | None
) -> Bot:
    """_pick_bot over bots already read: the same rules as selectors.bots_for."""
    if policy is None or policy.role == Role.GUEST:
        usable = [b for b in bots if b.is_default]
    elif policy.pk in allowed:
        usable = [b for b in bots if b.pk in allowed[policy.pk]]
    else:
        usable = bots
    if slug:
        for bot in usable:
            if bot.slug == slug:
                return bot
        raise ChatError("unknown_bot", _("That bot does not exist or is switched off."), status=404)
    bot = next((b for b in usable if b.is_default), usable[0] if usable else None)
    if bot is None:
        raise ChatError("no_bot", _("No bot is available. An administrator needs to add one."))
    return bot
