"""A message from a messenger: stored through message_send like a web one (roles, quotas,
languages), answered by the one generation service with a MessengerSink as its direct sink."""

from __future__ import annotations

from django.utils import translation
from django.utils.translation import gettext as _

from accounts.models import RolePolicy
from accounts.roles import policy_for
from conversations import selectors
from conversations.db_threads import on_db_thread
from conversations.models import Message
from conversations.services.errors import ChatError
from conversations.services.messages import SentMessage, message_send, reply_regenerate
from conversations.services.runner import runner

from ..models import ChatBinding, Integration, MessengerIdentity
from ..transports.base import Target, Transport
from .sink import MessengerSink

# A current conversation that can no longer take messages: the chat starts a new one instead.
_START_AFRESH = {"not_found", "bot_inactive", "bot_not_allowed"}


def binding_get(*, integration: Integration, chat_id: str,
                identity: MessengerIdentity) -> ChatBinding:
    binding, _ = ChatBinding.objects.select_related("bot").get_or_create(
        integration=integration, chat_id=chat_id, identity=identity)
    return binding


def _bot_slug(integration: Integration, binding: ChatBinding,
              identity: MessengerIdentity) -> str | None:
    """The chat's bot (/bot, else the integration's) when the person's role may use it; else
    None, which gives them their role's default bot, as on the web."""
    bot = binding.bot or integration.bot
    usable = selectors.bots_for(identity.user, policy_for(identity.user)).filter(pk=bot.pk)
    return bot.slug if usable.exists() else None


def messenger_message_store(*, integration: Integration, identity: MessengerIdentity,
                            chat_id: str, text: str) -> SentMessage:
    """Stores the message in the chat's current conversation (or a new one) with a reply that
    is about to stream. Raises ChatError with a reason the person can read."""
    binding = binding_get(integration=integration, chat_id=chat_id, identity=identity)
    slug = _bot_slug(integration, binding, identity)

    def send(conversation_id: object) -> SentMessage:
        return message_send(user=identity.user, content=text, conversation_id=conversation_id,
                            bot_slug=slug, channel=integration.platform,
                            reply_status=Message.Status.STREAMING)

    try:
        sent = send(binding.conversation_id)
    except ChatError as exc:
        if not binding.conversation_id or exc.code not in _START_AFRESH:
            raise
        sent = send(None)
    if sent.conversation.pk != binding.conversation_id:
        ChatBinding.objects.filter(pk=binding.pk).update(conversation=sent.conversation)
    return sent


def messenger_retry_store(*, integration: Integration, identity: MessengerIdentity,
                          chat_id: str) -> Message:
    """A new reply in place of the chat's last one, if that one failed or was interrupted
    (/retry). Raises ChatError with a reason the person can read."""
    binding = binding_get(integration=integration, chat_id=chat_id, identity=identity)
    conversation = (selectors.conversations_for(identity.user)
                    .filter(pk=binding.conversation_id).first()
                    if binding.conversation_id else None)
    last = selectors.visible_messages(conversation).last() if conversation else None
    if last is None or last.role != Message.Role.ASSISTANT or last.status != Message.Status.FAILED:
        raise ChatError("nothing_to_retry", _("There is no failed reply to try again."),
                        status=409)
    return reply_regenerate(user=identity.user, message_id=last.pk,
                            reply_status=Message.Status.STREAMING)


async def messenger_reply_write(*, integration: Integration, identity: MessengerIdentity,
                                transport: Transport, target: Target, text: str) -> str:
    """Stores the message and streams the reply into the chat; returns the reply's id."""
    # The chat database threads: a worker answers many chats at once, and Django's one shared
    # thread would store their messages one after another.
    sent = await on_db_thread(messenger_message_store)(
        integration=integration, identity=identity, chat_id=target.chat_id, text=text)
    await _stream(integration, transport, target, sent.reply, reply=sent.reply,
                  policy=sent.policy)
    return str(sent.reply.pk)


async def messenger_reply_retry(*, integration: Integration, identity: MessengerIdentity,
                                transport: Transport, target: Target) -> str:
    """/retry: writes the chat's failed or interrupted last reply again; returns its id."""
    reply = await on_db_thread(messenger_retry_store)(
        integration=integration, identity=identity, chat_id=target.chat_id)
    await _stream(integration, transport, target, reply)
    return str(reply.pk)


async def _stream(integration: Integration, transport: Transport, target: Target,
                  message: Message, *, reply: Message | None = None,
                  policy: RolePolicy | None = None) -> None:
    # reply/policy: what message_send already loaded, handed on to spare the runner queries.
    sink = MessengerSink(transport, target, integration.pk, reply_id=str(message.pk),
                         language=translation.get_language() or "")
    live = runner().start(message.pk, message.conversation_id, direct=sink, reply=reply,
                          policy=policy)
    if live.task is not None:
        await live.task
    await sink.finish()
