"""Runs replies on an event loop, detached from the connection that asked for them.

There is one runner per event loop: daphne's loop in a web process, the shared loop of a Celery
`chat` worker. Each runner listens on the control group, so a stop, a snapshot request from a tab
that reconnected on another process, or the sweep's liveness ping reaches whichever process is
writing the reply.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import weakref
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings

from accounts.models import RolePolicy
from conversations.models import Message
from conversations.providers import ChatRequest

from .early import EarlyStart
from .fanout import GROUP_EVENT, DirectSink, ReplyFanout
from .generation import LiveReply, drop_broken_connections, generate_reply

log = logging.getLogger(__name__)

CONTROL_GROUP = "chatlab.control"

_runners: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ReplyRunner] = (
    weakref.WeakKeyDictionary()
)


def runner() -> ReplyRunner:
    loop = asyncio.get_running_loop()
    found = _runners.get(loop)
    if found is None:
        found = _runners[loop] = ReplyRunner()
    return found


class ReplyRunner:
    def __init__(self) -> None:
        self.replies: dict[str, LiveReply] = {}
        self._control: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()

    def start(
        self,
        message_id: object,
        conversation_id: object,
        *,
        direct: DirectSink | None = None,
        history: list[dict[str, str]] | None = None,
        reply: Message | None = None,
        policy: RolePolicy | None = None,
        request: ChatRequest | None = None,
        early: EarlyStart | None = None,
        followed: bool | None = None,
    ) -> LiveReply:
        key = str(message_id)
        existing = self.replies.get(key)
        if existing is not None and not (existing.early and existing.early.refused):
            return existing
        self.ensure_control()
        live = LiveReply(
            message_id=key,
            conversation_id=str(conversation_id),
            fanout=ReplyFanout(conversation_id, direct, followed=followed),
            history=history,
            reply=reply,
            policy=policy,
            request=request,
            early=early,
        )
        self.replies[key] = live
        # A fresh context: the reply outlives the request that started it, and must not inherit
        # that request's per-request executor (asgiref's thread-sensitive context).
        live.task = asyncio.create_task(
            self._run(live), name=f"reply-{key}", context=contextvars.Context()
        )
        return live

    async def _run(self, live: LiveReply) -> None:
        try:
            await generate_reply(live)
        finally:
            if self.replies.get(live.message_id) is live:
                del self.replies[live.message_id]

    def detach(self, channel_name: str) -> None:
        """A socket closed: its replies go on, broadcasting to the group only."""
        for live in self.replies.values():
            direct = live.fanout.direct
            if direct is not None and direct.channel_name == channel_name:
                live.fanout.detach_direct()

    def stop_local(self, message_id: str) -> bool:
        live = self.replies.get(message_id)
        if live is None or live.task is None:
            return False
        live.stop_requested = True
        live.task.cancel()
        return True

    async def stop(self, message_id: object) -> None:
        key = str(message_id)
        if not self.stop_local(key):
            await _control_send({"type": "control.stop", "id": key})

    # The control group ---------------------------------------------------------------------

    def ensure_control(self) -> None:
        if self._control is None or self._control.done():
            self._control = asyncio.create_task(
                self._control_loop(), name="reply-control", context=contextvars.Context()
            )
            # Every process with a runner sweeps (one of them at a time, see _sweep_loop): the
            # beat schedule alone (a minute) left orphans streaming long past the stale limit.
            self._spawn(self._sweep_loop())

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro, context=contextvars.Context())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _control_loop(self) -> None:
        layer = get_channel_layer()
        channel = await layer.new_channel("control.")
        await layer.group_add(CONTROL_GROUP, channel)
        while True:
            message = await layer.receive(channel)
            try:
                await self._on_control(message)
            except Exception:
                log.exception("control message %r failed", message.get("type"))

    async def _on_control(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "control.stop":
            self.stop_local(str(message.get("id")))
        elif kind == "control.snapshot":
            for key in message.get("ids", []):
                if (live := self.replies.get(str(key))) is not None:
                    # Someone else watches now: from here on the reply is broadcast too.
                    live.fanout.follow()
                    await get_channel_layer().send(
                        message["reply_to"],
                        {"type": GROUP_EVENT, "event": live.snapshot(), "origin": ""},
                    )
        elif kind == "control.ping":
            alive = [key for key in message.get("ids", []) if str(key) in self.replies]
            if alive:
                await get_channel_layer().send(
                    message["reply_to"], {"type": "control.alive", "ids": alive}
                )

    async def _sweep_loop(self) -> None:
        from .sweep import sweep_interrupted_replies, sweep_turn

        period = sweep_period()
        while True:
            await asyncio.sleep(period)
            try:
                if await sweep_turn(period):
                    await sweep_interrupted_replies()
            except Exception:
                log.exception("sweep of interrupted replies failed")
                await drop_broken_connections()  # or every later sweep fails the same way


def sweep_period() -> float:
    """How often replies are swept: a reply whose process died is marked interrupted within
    the stale limit plus this, plus the liveness ping's wait."""
    return max(1.0, settings.CHATLAB_STALE_REPLY_SECONDS / 4)


async def _control_send(message: dict[str, Any]) -> None:
    await get_channel_layer().group_send(CONTROL_GROUP, message)


async def request_snapshots(ids: list[str], reply_to: str) -> None:
    """Asks whichever process writes these replies to send their state so far to reply_to."""
    if ids:
        await _control_send({"type": "control.snapshot", "ids": ids, "reply_to": reply_to})
