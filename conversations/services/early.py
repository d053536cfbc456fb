"""Asking the model while the message is being stored.

Storing a send costs a handful of database round trips (the role, today's quota, the bot, three
inserts), and on a busy web process they queue behind other sockets' writes. The model's own
time to first token is hundreds of milliseconds. So a socket that already knows its person's
role and bots (loaded when it connected) sends the model request first and stores the message
meanwhile, and the two waits overlap instead of adding up.

Nothing reaches anyone until the store has succeeded and the stored reply would have produced
exactly the request that was sent. If the store refuses (quota, bot switched off, account
deactivated, a repeated client_id) or would have asked differently (an admin changed the bot or
the role a moment ago), the early request is closed unread and the send goes the ordinary way.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field

from accounts.models import RolePolicy, User
from accounts.roles import policy_for
from conversations import selectors
from conversations.models import Bot, Conversation, Message
from conversations.providers import ChatRequest

from .context import build_request
from .errors import ChatError
from .messages import SentMessage, clean_content

# How long a socket trusts what it loaded about its person before reading it again. It is only
# a guess at what the store will decide: the store reads everything afresh.
CONTEXT_MAX_AGE = 30.0


@dataclass(frozen=True)
class SendContext:
    """What a socket knows about its person between frames."""

    policy: RolePolicy | None
    bots: dict[str, Bot]  # slug -> bot (with provider), the ones the role may use
    default: Bot | None
    loaded_at: float = field(default_factory=time.monotonic)

    @property
    def stale(self) -> bool:
        return time.monotonic() - self.loaded_at > CONTEXT_MAX_AGE


def send_context_load(user: User) -> SendContext:
    policy = policy_for(user)
    bots = list(selectors.bots_for(user, policy).select_related("provider"))
    default = next((b for b in bots if b.is_default), bots[0] if bots else None)
    return SendContext(policy=policy, bots={b.slug: b for b in bots}, default=default)


# The longest a first message's store waits for its early request to be written: a slow
# connection (a TLS handshake) must not hold the message back for long.
STORE_WAIT_SECONDS = 0.1


@dataclass
class EarlyStart:
    """A model request sent before its message was stored, and the verdict of the store."""

    conversation_id: uuid.UUID
    reply_id: uuid.UUID
    bot: Bot
    history: list[dict[str, str]]
    request: ChatRequest
    _verdict: asyncio.Future[Message | None] = field(init=False, repr=False)

    _sent: asyncio.Event = field(init=False, repr=False, default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self._verdict = asyncio.get_running_loop().create_future()

    def request_sent(self) -> None:
        self._sent.set()

    async def store_when_sent(self) -> None:
        """Waits (briefly) until the model request is on the wire.

        When many first messages arrive at once, the event loop runs each reply's start one
        stage at a time for all of them, so every request waits for all the CPU spent before it;
        storing the messages meanwhile (a database thread holding the GIL half the time)
        delayed every request by tens of milliseconds. The store's answer is only needed when
        the first token arrives, so it goes second.
        """
        try:
            async with asyncio.timeout(STORE_WAIT_SECONDS):
                await self._sent.wait()
        except TimeoutError:
            pass

    def admit(self, reply: Message) -> None:
        if not self._verdict.done():
            self._verdict.set_result(reply)

    def refuse(self) -> None:
        if not self._verdict.done():
            self._verdict.set_result(None)

    @property
    def refused(self) -> bool:
        return self._verdict.done() and self._verdict.result() is None

    async def verdict(self) -> Message | None:
        """The stored reply once the store has admitted this request; None if refused."""
        return await asyncio.shield(self._verdict)

    def matches(self, sent: SentMessage) -> bool:
        """Whether the store ended where this request began: same reply, bot and request."""
        if not sent.is_new or sent.reply.pk != self.reply_id:
            return False
        bot = sent.conversation.bot
        if bot.pk != self.bot.pk or bot.updated_at != self.bot.updated_at:
            return False
        if bot.provider.updated_at != self.bot.provider.updated_at:
            return False
        return build_request(sent.reply, history=self.history, policy=sent.policy) == self.request


def early_start_plan(
    context: SendContext | None, user: User, content: object, bot_slug: object
) -> EarlyStart | None:
    """The request a new conversation's first message will make, if the socket can tell
    without the database; None when it cannot (the ordinary path then decides everything)."""
    if context is None or context.stale:
        return None
    try:
        text = clean_content(content)
    except ChatError:
        return None  # the store words the refusal
    bot = context.bots.get(bot_slug) if isinstance(bot_slug, str) and bot_slug else context.default
    if bot is None or not (bot.is_active and bot.provider.is_active):
        return None
    conversation = Conversation(pk=uuid.uuid4(), owner=user, bot=bot)
    reply = Message(pk=uuid.uuid4(), conversation=conversation, role=Message.Role.ASSISTANT)
    history = [{"role": "user", "content": text}]
    request = build_request(reply, history=history, policy=context.policy)
    return EarlyStart(
        conversation_id=conversation.pk,
        reply_id=reply.pk,
        bot=bot,
        history=history,
        request=request,
    )
