"""GET /api/v1/messages/{id}/stream/: one reply as server-sent events.

A client may attach at any time, mid-reply or after: it first gets a ``snapshot`` (the text so
far), then ``delta`` events, then ``done``. Disconnecting does not stop the reply; attaching
again picks up where it is. Events:

    event: snapshot  data: {"id", "seq", "content", "reasoning", "status"}
    event: delta     data: {"seq", "text"} (+ "reasoning" when the model thought aloud)
    event: done      data: {the message without content}
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse

from accounts.permissions import api_access_allowed
from accounts.roles import policy_for
from accounts.services.tokens import api_token_authenticate
from conversations import selectors
from conversations.db_threads import releasing
from conversations.models import Message
from conversations.services.fanout import GROUP_EVENT, conversation_group
from conversations.services.payloads import message_payload
from conversations.services.generation import LiveReply
from conversations.services.runner import request_snapshots, runner

# Without any event for this long the stream re-reads the message, in case its writer died.
IDLE_CHECK_SECONDS = 5.0


def _error(code: str, message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


def _api_user(request: HttpRequest) -> Any:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return api_token_authenticate(header[7:].strip()) or False
    user = request.user
    return user if user.is_authenticated else None


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def _delta(event: dict[str, Any]) -> bytes:
    data = {"seq": event["seq"], "text": event["text"]}
    if event.get("reasoning"):
        data["reasoning"] = event["reasoning"]
    return _sse("delta", data)


def _snapshot(message_id: str, seq: int, content: str, reasoning: str, status: str) -> bytes:
    return _sse("snapshot", {"id": message_id, "seq": seq, "content": content,
                             "reasoning": reasoning, "status": status})


async def message_stream(request: HttpRequest, message_id: str) -> HttpResponse:
    if request.method != "GET":
        return _error("method_not_allowed", "Use GET.", 405)
    user = await sync_to_async(releasing(_api_user))(request)
    if user is False:
        return _error("authentication_failed", "The API token is invalid or revoked.", 401)
    if user is None:
        return _error("not_authenticated", "Authentication credentials were not provided.", 401)
    policy = await sync_to_async(releasing(policy_for))(user)
    if not api_access_allowed(user, policy):
        return _error("api_access_denied", "Your role does not include API access.", 403)
    message = await sync_to_async(releasing(selectors.message_get))(user, message_id)
    if message is None:
        return _error("not_found", "Not found.", 404)
    response = StreamingHttpResponse(_events(message), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: do not buffer the stream
    return response


class _LocalSink:
    """This stream as a reader of a reply written on the same event loop."""

    def __init__(self) -> None:
        self.channel_name = f"sse.local.{id(self)}"
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def deliver(self, event: dict[str, Any]) -> None:
        self.queue.put_nowait(event)


async def _local_events(message: Message, live: LiveReply) -> AsyncIterator[bytes]:
    """The reply runs here: read it straight from its writer, no channel layer involved."""
    sink = _LocalSink()
    # No await between the snapshot and attaching: no delta can fall between them.
    snapshot = live.snapshot()
    live.fanout.local.append(sink)
    try:
        seq = snapshot["seq"]
        yield _snapshot(snapshot["id"], seq, snapshot["content"], snapshot["reasoning"],
                        snapshot["status"])
        while True:
            try:
                event = await asyncio.wait_for(sink.queue.get(), IDLE_CHECK_SECONDS)
            except TimeoutError:
                idle = await _idle(message)
                yield idle.chunk
                if idle.ended:
                    return
                continue
            if event["kind"] == "delta" and event["seq"] == seq + 1:
                seq = event["seq"]
                yield _delta(event)
            elif event["kind"] == "done":
                yield _sse("done", event["message"])
                return
    finally:
        with contextlib.suppress(ValueError):
            live.fanout.local.remove(sink)


async def _events(message: Message) -> AsyncIterator[bytes]:
    if not message.is_active:
        yield _final(message)
        return
    key = str(message.pk)
    live = runner().replies.get(key)
    if live is not None:
        async for chunk in _local_events(message, live):
            yield chunk
        return
    layer = get_channel_layer()
    channel = await layer.new_channel("sse.")
    group = conversation_group(message.conversation_id)
    await layer.group_add(group, channel)
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def receive() -> None:
        # One long receive loop: cancelling a receive would drop the pub/sub subscription.
        while True:
            await inbox.put(await layer.receive(channel))

    receiver = asyncio.create_task(receive())
    seq: int | None = None
    early: list[dict[str, Any]] = []
    try:
        await request_snapshots([key], channel)
        while True:
            try:
                envelope = await asyncio.wait_for(inbox.get(), IDLE_CHECK_SECONDS)
            except TimeoutError:
                idle = await _idle(message)
                yield idle.chunk
                if idle.ended:
                    return
                await request_snapshots([key], channel)
                continue
            if envelope.get("type") != GROUP_EVENT:
                continue
            event = envelope["event"]
            if event.get("id") != key:
                continue
            kind = event["kind"]
            if kind == "snapshot" and seq is None:
                seq = event["seq"]
                yield _snapshot(key, seq, event["content"], event.get("reasoning", ""),
                                event["status"])
                for delta in sorted(early, key=lambda d: d["seq"]):
                    if delta["seq"] == seq + 1:
                        seq = delta["seq"]
                        yield _delta(delta)
                early.clear()
            elif kind == "delta":
                if seq is None:
                    early.append(event)
                elif event["seq"] == seq + 1:
                    seq = event["seq"]
                    yield _delta(event)
            elif kind == "done":
                if seq is None or event["seq"] != seq:
                    # Attached too late for the live text: send the saved message whole.
                    fresh = await Message.objects.filter(pk=message.pk).afirst()
                    if fresh is not None:
                        yield _final(fresh)
                    return
                yield _sse("done", event["message"])
                return
    finally:
        receiver.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await receiver
        with contextlib.suppress(Exception):
            await layer.group_discard(group, channel)


@dataclass(frozen=True)
class _Idle:
    chunk: bytes
    ended: bool


async def _idle(message: Message) -> _Idle:
    """No event for a while: the saved message if it has ended (its writer may have died
    without a word), else a comment that keeps the connection open."""
    fresh = await Message.objects.filter(pk=message.pk).afirst()
    if fresh is None:
        return _Idle(b"", ended=True)
    if not fresh.is_active:
        return _Idle(_final(fresh), ended=True)
    return _Idle(b": still writing\n\n", ended=False)


def _final(message: Message) -> bytes:
    return _snapshot(str(message.pk), -1, message.content, message.reasoning,
                     message.status) + _sse(
        "done", message_payload(message, with_content=False))
