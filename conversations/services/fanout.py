"""Where a reply's events go: straight to the socket that asked, and through the conversation's
group to every other tab on any process. Events are plain dicts (msgpack-able):

    {"kind": "delta", "id": message_id, "seq": n, "text": "..."}
    {"kind": "snapshot", "id": message_id, "seq": n, "content": "...", "status": "streaming"}
    {"kind": "done", "id": message_id, "seq": n, "message": {...metadata, no content...}}
"""

from __future__ import annotations

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
    def __init__(self, conversation_id: object, direct: DirectSink | None = None) -> None:
        self.group = conversation_group(conversation_id)
        self.direct = direct
        self.layer = get_channel_layer()

    async def send(self, event: dict[str, Any]) -> None:
        if self.direct is not None:
            try:
                await self.direct.deliver(event)
            except Exception:  # a closed socket must not end the reply
                log.debug("direct delivery failed; the reply goes on", exc_info=True)
                self.direct = None
        origin = self.direct.channel_name if self.direct is not None else ""
        try:
            await self.layer.group_send(
                self.group, {"type": GROUP_EVENT, "event": event, "origin": origin}
            )
        except Exception:
            # Other tabs catch up from the saved message; the reply itself must not fail.
            log.warning("channel layer unavailable; event for %s not broadcast", self.group)
