"""The one reply generator: every channel's replies are written here.

It loads the reply, builds the model's context, streams from the provider, hands coalesced
frames to a fanout and saves the message: at the start (by the caller), at a few checkpoints
while it grows, and once when it ends. It never raises to its caller: every failure becomes a
``failed`` reply with a reason the person can read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache
from django.db import OperationalError, close_old_connections
from django.utils import timezone
from django.utils.translation import gettext_noop

from accounts.models import RolePolicy
from conversations.db_threads import on_db_thread
from conversations.models import Message
from conversations.providers import ChatRequest, ProviderError, Usage, backend_for
from conversations.providers.base import ReasoningDelta, request_written

from .background import FollowUp, held_follow_ups, hold_follow_ups, send_follow_ups
from .coalesce import Coalescer
from .context import build_request
from .fanout import ReplyFanout
from .payloads import message_payload

if TYPE_CHECKING:
    from .early import EarlyStart

log = logging.getLogger(__name__)

# Stored in English; message_payload shows them in the reader's language.
INTERRUPTED = gettext_noop("The reply was interrupted. Press retry to try again.")


@dataclass
class LiveReply:
    """The in-memory state of a reply being written on this process."""

    message_id: str
    conversation_id: str
    fanout: ReplyFanout
    coalescer: Coalescer | None = None
    stop_requested: bool = False
    # The messages to answer when the caller brings its own history (the OpenAI-compatible
    # endpoint) instead of the conversation's; the bot's system prompt still comes first.
    history: list[dict[str, str]] | None = None
    # The reply as its caller just stored it (with conversation, bot, provider and owner), so
    # the start of a reply does not read it back.
    reply: Message | None = field(default=None, repr=False)
    policy: RolePolicy | None = field(default=None, repr=False)
    # The model request, when the caller built it with the reply (on its own thread).
    request: ChatRequest | None = field(default=None, repr=False)
    # A request sent before the reply was stored: the reply is known once the store admits it.
    early: EarlyStart | None = field(default=None, repr=False)
    task: asyncio.Task[None] | None = field(default=None, repr=False)
    # How the reply ended ("complete", "failed"...), once it is saved; "" before, or if it was
    # never written (gone, or refused).
    status: str = ""

    @property
    def answers_first_message(self) -> bool:
        """Whether this reply completes a conversation's first exchange (known without a
        query: its caller brought a history of just that message)."""
        if self.early is not None:
            return True
        history = self.history
        return history is not None and len(history) == 1 and type(history) is list

    def snapshot(self) -> dict[str, Any]:
        c = self.coalescer
        return {
            "kind": "snapshot",
            "id": self.message_id,
            "seq": c.seq if c else 0,
            "content": c.sent_text() if c else "",
            "reasoning": c.sent_reasoning() if c else "",
            "status": Message.Status.STREAMING,
        }


@dataclass
class _Thinking:
    """When the model reasoned: from its first thought to its first answer token."""

    started: float | None = None
    last: float | None = None
    ms: int | None = None

    def thought(self) -> None:
        now = time.monotonic()
        if self.started is None:
            self.started = now
        self.last = now

    def answered(self) -> None:
        if self.started is not None and self.ms is None:
            self.ms = int((time.monotonic() - self.started) * 1000)

    def duration_ms(self) -> int | None:
        if self.ms is None and self.started is not None and self.last is not None:
            return int((self.last - self.started) * 1000)  # it never answered
        return self.ms


@dataclass
class _Outcome:
    status: str = Message.Status.COMPLETE
    error: str = ""
    usage: Usage | None = None
    ttft_ms: int | None = None
    thinking: _Thinking = field(default_factory=_Thinking)


def reply_for_writing(message_id: str) -> Message | None:
    """The reply with everything writing it reads: conversation, bot, provider and owner."""
    return (
        Message.objects.select_related("conversation__bot__provider", "conversation__owner")
        .filter(pk=message_id)
        .first()
    )


async def generate_reply(live: LiveReply) -> None:
    started = time.monotonic()
    # Titles and summaries this reply asks for (building its context, say) wait for its end.
    hold_follow_ups()
    outcome = _Outcome()
    live.coalescer = coalescer = Coalescer(
        settings.CHATLAB_COALESCE_MS / 1000,
        lambda seq, text, reasoning: live.fanout.send(
            delta_event(live.message_id, seq, text, reasoning)
        ),
    )
    checkpoints = _checkpoints(live.message_id, coalescer)
    early = live.early
    reply: Message | None = None
    if early is None:
        # The chat database threads, not Django's one shared thread: replies start in bursts,
        # and their queries should overlap rather than queue.
        reply = live.reply or await on_db_thread(reply_for_writing)(live.message_id)
        live.reply = None  # the object goes stale as the reply is written; keep only the id
        if reply is None or not reply.is_active:
            coalescer.abort()
            return
    try:
        if early is not None:
            request, provider = early.request, early.bot.provider
            request_written.set(early.request_sent)
        else:
            assert reply is not None
            request = live.request or await on_db_thread(build_request)(
                reply, history=live.history, policy=live.policy
            )
            provider = reply.conversation.bot.provider
        async with asyncio.timeout(settings.CHATLAB_REPLY_TIMEOUT):
            async with aclosing(backend_for(provider).stream(request)) as stream:
                async for item in stream:
                    if reply is None:
                        # Nothing is shown or saved before the message is stored.
                        assert early is not None
                        early.request_sent()  # for a backend that does not say so itself
                        if (reply := await early.verdict()) is None:
                            coalescer.abort()
                            return
                    if isinstance(item, Usage):
                        outcome.usage = item
                        continue
                    if outcome.ttft_ms is None:
                        outcome.ttft_ms = int((time.monotonic() - started) * 1000)
                    if isinstance(item, ReasoningDelta):
                        outcome.thinking.thought()
                        coalescer.push_reasoning(item.text)
                    else:
                        outcome.thinking.answered()
                        coalescer.push(item)
                    checkpoints.maybe_save()
    except ProviderError as exc:
        log.info("reply %s failed: %s (%s)", live.message_id, exc.code, exc.detail)
        outcome.status, outcome.error = Message.Status.FAILED, exc.message
    except TimeoutError:
        outcome.status = Message.Status.FAILED
        outcome.error = gettext_noop("The reply took too long and was stopped.")
    except asyncio.CancelledError:
        if not live.stop_requested:
            # The process is shutting down: record why, then let the cancellation go on.
            checkpoints.stop()
            if reply is not None:
                await asyncio.shield(_finish(live, reply, coalescer, started, _Outcome(
                    status=Message.Status.FAILED, error=INTERRUPTED,
                    thinking=outcome.thinking)))
            raise
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
        outcome.status = Message.Status.CANCELLED
    except Exception:
        log.exception("reply %s failed unexpectedly", live.message_id)
        outcome.status = Message.Status.FAILED
        outcome.error = gettext_noop(
            "Something went wrong while writing the reply. Please try again.")
    if reply is None:
        # The model failed (or said nothing) before the store decided.
        assert early is not None
        early.request_sent()
        if (reply := await early.verdict()) is None:
            coalescer.abort()
            return
    await checkpoints.drain()
    await _finish(live, reply, coalescer, started, outcome)


async def _finish(
    live: LiveReply, reply: Message, coalescer: Coalescer, started: float, outcome: _Outcome
) -> None:
    try:
        await coalescer.close()
    except Exception:
        log.warning("could not send the last frame of %s", live.message_id, exc_info=True)
    usage = outcome.usage
    fields: dict[str, Any] = {
        "status": outcome.status,
        "error": outcome.error,
        "content": coalescer.received_text(),
        "reasoning": coalescer.received_reasoning(),
        "reasoning_ms": outcome.thinking.duration_ms(),
        "ttft_ms": outcome.ttft_ms,
        "total_ms": int((time.monotonic() - started) * 1000),
        "updated_at": timezone.now(),  # update() skips auto_now
    }
    if usage is not None:
        # reasoning_tokens are part of completion_tokens (OpenAI's usage): stored to be
        # shown, never added again.
        fields.update(prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
                      reasoning_tokens=usage.reasoning_tokens)
        if usage.model:
            fields["model"] = usage.model
    try:
        saved = await _save_final(reply.pk, fields)
    except Exception:
        # The database stayed away. The reply's text goes to the cache for the sweep to
        # store with the interrupted notice; the readers are told now, not left waiting.
        log.exception("reply %s could not be saved", live.message_id)
        with contextlib.suppress(Exception):
            await cache.aset(checkpoint_key(live.message_id),
                             checkpoint_value(fields["content"], fields["reasoning"]),
                             timeout=_checkpoint_ttl())
        saved = 0
        reply.status, reply.error = Message.Status.FAILED, INTERRUPTED
        final = reply
    else:
        final = await on_db_thread(reply_for_writing)(live.message_id) if not saved else reply
    follow_ups = held_follow_ups()
    if saved:
        live.status = outcome.status
        for name, value in fields.items():
            setattr(reply, name, value)
        if (outcome.status == Message.Status.COMPLETE and live.answers_first_message
                and settings.CHATLAB_AUTO_TITLES):
            # The first exchange is complete: time for a real title.
            from conversations.tasks import title_conversation

            follow_ups.append(FollowUp(title_conversation, (live.conversation_id,), "chat"))
    if final is not None:
        await live.fanout.send(
            {
                "kind": "done",
                "id": live.message_id,
                "seq": coalescer.seq,
                "message": message_payload(final, with_content=False),
            }
        )
        await live.fanout.close()
    # Only now: a slow or dead broker must not hold up, or break, the reply (issue #17).
    await send_follow_ups(follow_ups)


# Waits between tries of the final save: a database that is briefly locked or restarting must
# not cost the person the reply they just watched arrive.
FINAL_SAVE_RETRY_DELAYS = (0.1, 0.3, 1.0, 3.0)


async def _save_final(message_id: object, fields: dict[str, Any]) -> int:
    query = Message.objects.filter(pk=message_id, status__in=Message.ACTIVE)
    for delay in FINAL_SAVE_RETRY_DELAYS:
        try:
            return await query.aupdate(**fields)
        except OperationalError:
            log.warning("saving reply %s failed; trying again in %.1f s", message_id, delay,
                        exc_info=True)
            await drop_broken_connections()
            await asyncio.sleep(delay)
    return await query.aupdate(**fields)


async def drop_broken_connections() -> None:
    """Closes the async ORM's connections that failed (a server restart, a cut connection),
    on the thread that owns them, so the next query opens a fresh one instead of failing on
    the dead one for ever."""
    await sync_to_async(close_old_connections)()


def _checkpoint_ttl() -> int:
    # Kept a little longer than any reply may run, for the sweep to find.
    return settings.CHATLAB_REPLY_TIMEOUT + 2 * settings.CHATLAB_STALE_REPLY_SECONDS


def checkpoint_key(message_id: object) -> str:
    return f"chatlab:reply-text:{message_id}"


def delta_event(message_id: str, seq: int, text: str, reasoning: str = "") -> dict[str, Any]:
    event: dict[str, Any] = {"kind": "delta", "id": message_id, "seq": seq, "text": text}
    if reasoning:  # only a reasoning model's frames carry it
        event["reasoning"] = reasoning
    return event


def checkpoint_value(text: str, reasoning: str) -> str | dict[str, str]:
    """What a cache checkpoint holds: the text alone, as before reasoning was kept, unless
    the model reasoned."""
    return {"content": text, "reasoning": reasoning} if reasoning else text


def checkpoint_parts(value: object) -> tuple[str, str]:
    """(text, reasoning) of a cache checkpoint; ("", "") for none or a foreign value."""
    if isinstance(value, str):
        return value, ""
    if isinstance(value, dict):
        text, reasoning = value.get("content"), value.get("reasoning")
        return (text if isinstance(text, str) else "",
                reasoning if isinstance(reasoning, str) else "")
    return "", ""


async def checkpoint_save(message_id: str, text: str, reasoning: str = "") -> None:
    if settings.CHATLAB_CHECKPOINTS == "cache":
        await cache.aset(checkpoint_key(message_id), checkpoint_value(text, reasoning),
                         timeout=_checkpoint_ttl())
        return
    await Message.objects.filter(pk=message_id, status__in=Message.ACTIVE).aupdate(
        content=text, reasoning=reasoning, status=Message.Status.STREAMING,
        updated_at=timezone.now()
    )


def _checkpoints(message_id: str, coalescer: Coalescer) -> _Checkpoints | _CacheCheckpoints:
    if settings.CHATLAB_CHECKPOINTS == "cache":
        return _CacheCheckpoints(message_id, coalescer)
    return _Checkpoints(message_id, coalescer)


class _CacheCheckpoints:
    """Cache mode: the text so far goes to the cache at once, then at most once every
    CHECKPOINT_CACHE_SECONDS while it grows. A cache write is cheap and costs the database
    nothing, so a process that dies early in a reply (before any database checkpoint would have
    come) still leaves what its readers saw, but the last second, for the sweep to store."""

    def __init__(self, message_id: str, coalescer: Coalescer) -> None:
        self.message_id = message_id
        self.coalescer = coalescer
        self._grew = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def maybe_save(self) -> None:
        self._grew.set()
        if self.task is None:
            self.task = asyncio.create_task(self._save_loop())

    async def _save_loop(self) -> None:
        warned = False
        while True:
            await self._grew.wait()
            self._grew.clear()
            try:
                await checkpoint_save(self.message_id, self.coalescer.received_text(),
                                      self.coalescer.received_reasoning())
            except Exception:
                if not warned:  # once per reply: the reply itself goes on
                    log.warning("checkpoint of %s failed", self.message_id, exc_info=True)
                    warned = True
            await asyncio.sleep(settings.CHATLAB_CHECKPOINT_CACHE_SECONDS)

    def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()

    async def drain(self) -> None:
        """The final save follows: later checkpoints are pointless."""
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


async def replies_as_stored(replies: list[Message]) -> list[dict[str, Any]]:
    """The replies' payloads as stored, with the text of their latest cache checkpoint where
    that has more: what a tab that (re)connects is shown at once, whether or not the process
    writing them is still alive."""
    saved: dict[str, Any] = {}
    if replies and settings.CHATLAB_CHECKPOINTS == "cache":
        try:
            saved = await cache.aget_many([checkpoint_key(m.pk) for m in replies])
        except Exception:
            log.warning("reading reply checkpoints failed; showing the stored text",
                        exc_info=True)
    payloads = []
    for message in replies:
        payload = message_payload(message)
        text, reasoning = checkpoint_parts(saved.get(checkpoint_key(message.pk)))
        if len(text) > len(message.content):
            payload["content"] = text
        if len(reasoning) > len(message.reasoning):
            payload["reasoning"] = reasoning
        payloads.append(payload)
    return payloads


class _Checkpoints:
    """Saves a growing reply now and then: first after CHECKPOINT_SECONDS, each next one
    CHECKPOINT_GROWTH times later, so a reply costs a few writes however long it is."""

    def __init__(self, message_id: str, coalescer: Coalescer) -> None:
        self.message_id = message_id
        self.coalescer = coalescer
        self.interval = settings.CHATLAB_CHECKPOINT_SECONDS
        self.due = time.monotonic() + self.interval
        self.task: asyncio.Task[None] | None = None

    def stop(self) -> None:
        pass  # a save under way finishes on its own

    def maybe_save(self) -> None:
        now = time.monotonic()
        if now < self.due or (self.task is not None and not self.task.done()):
            return
        self.interval *= settings.CHATLAB_CHECKPOINT_GROWTH
        self.due = now + self.interval
        self.task = asyncio.create_task(
            checkpoint_save(self.message_id, self.coalescer.received_text(),
                            self.coalescer.received_reasoning())
        )

    async def drain(self) -> None:
        if self.task is not None:
            try:
                await self.task
            except Exception:
                log.warning("checkpoint of %s failed", self.message_id, exc_info=True)
