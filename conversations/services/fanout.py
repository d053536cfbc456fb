"""Where a reply's events go: straight to the socket that asked, and through the conversation's
group to every other tab on any process. Events are plain dicts (msgpack-able):

    {"kind": "delta", "id": message_id, "seq": n, "text": "..."}
    {"kind": "snapshot", "id": message_id, "seq": n, "content": "...", "status": "streaming"}
    {"kind": "done", "id": message_id, "seq": n, "message": {...metadata, no content...}}
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from channels.layers import get_channel_layer

log = logging.getLogger(__name__)

GROUP_EVENT = "reply.event"


def conversation_group(conversation_id: object) -> str:
    return f"conv.{str(conversation_id).replace('-', '')}"


class DirectSink(Protocol):
    channel_name: str

    async def deliver(self, event: dict[str, Any]) -> None: ...


class ReplyFanout:
    """Sends a reply's events to the socket that asked at once, and to the conversation's group
    only while someone else follows: another tab, a stream client or a reconnect asks the
    writer for a snapshot, and that request is what turns broadcasting on. A reply that nobody
    else watches costs no channel-layer traffic at all.

    Group publishes go through a queue of their own, in order, so a slow broker never holds up
    the asking socket or the reading of the model's stream.
    """

    def __init__(
        self,
        conversation_id: object,
        direct: DirectSink | None = None,
        *,
        followed: bool | None = None,
    ) -> None:
        self.group = conversation_group(conversation_id)
        self.direct = direct
        # Streams attached in this process (an SSE client of the API): fed like the socket.
        self.local: list[DirectSink] = []
        self.layer = get_channel_layer()
        # Without a socket of its own (Celery) every event is for the group, unless the caller
        # knows its readers will ask (a REST client attaches to the stream and asks).
        self.followed = direct is None if followed is None else followed
        self._queue: asyncio.Queue[dict[str, Any] | None] | None = None
        self._sender: asyncio.Task[None] | None = None

    def follow(self) -> None:
        self.followed = True

    def detach_direct(self) -> None:
        """The asking socket is gone: whoever follows from now on does so through the group."""
        self.direct = None
        self.followed = True

    async def send(self, event: dict[str, Any]) -> None:
        if self.direct is not None:
            try:
                await self.direct.deliver(event)
            except Exception:  # a closed socket must not end the reply
                log.debug("direct delivery failed; the reply goes on", exc_info=True)
                self.detach_direct()
        for sink in tuple(self.local):
            try:
                await sink.deliver(event)
            except Exception:
                self.local.remove(sink)
        if self.followed:
            self._publish(event)

    def _publish(self, event: dict[str, Any]) -> None:
        origin = self.direct.channel_name if self.direct is not None else ""
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._sender = asyncio.create_task(self._send_loop())
        self._queue.put_nowait({"type": GROUP_EVENT, "event": event, "origin": origin})

    async def _send_loop(self) -> None:
        assert self._queue is not None
        while (message := await self._queue.get()) is not None:
            try:
                await self.layer.group_send(self.group, message)
            except Exception:
                # Other tabs catch up from the saved message; the reply itself must not fail.
                log.warning("channel layer unavailable; event for %s not broadcast", self.group)

    async def close(self) -> None:
        """Waits until every queued event has been published."""
        if self._queue is not None and self._sender is not None:
            self._queue.put_nowait(None)
            await self._sender
