"""Marks replies whose process died as interrupted, so none stays `streaming` for ever."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache
from django.db.models import Q
from django.utils import timezone

from conversations.hooks import replies_interrupted
from conversations.models import Message

from .fanout import GROUP_EVENT, conversation_group
from .generation import INTERRUPTED, checkpoint_key, checkpoint_parts
from .payloads import message_payload
from .runner import CONTROL_GROUP

log = logging.getLogger(__name__)

PING_WAIT_SECONDS = 2.0


async def _alive(ids: list[str]) -> set[str]:
    """Asks every runner which of these replies it is writing."""
    layer = get_channel_layer()
    channel = await layer.new_channel("sweep.")
    alive: set[str] = set()

    async def collect() -> None:
        while True:
            answer = await layer.receive(channel)
            alive.update(str(key) for key in answer.get("ids", []))

    collector = asyncio.create_task(collect())
    await layer.group_send(CONTROL_GROUP, {"type": "control.ping", "ids": ids, "reply_to": channel})
    await asyncio.sleep(PING_WAIT_SECONDS)
    collector.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await collector
    return alive


def _stale() -> Q:
    """Streaming replies idle past the stale limit; pending ones only once the queue would
    have handed their task to another worker (a backlog is not a death)."""
    now = timezone.now()
    streaming_cutoff = now - timedelta(seconds=settings.CHATLAB_STALE_REPLY_SECONDS)
    pending_cutoff = streaming_cutoff - timedelta(
        seconds=settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 900)
    )
    return Q(status=Message.Status.STREAMING, updated_at__lt=streaming_cutoff) | Q(
        status=Message.Status.PENDING, updated_at__lt=pending_cutoff
    )


async def sweep_turn(period: float) -> bool:
    """Whether this process sweeps now: one sweep per period across every process that
    runs replies (an atomic add in the shared cache)."""
    return await cache.aadd("chatlab:sweep-turn", 1, timeout=max(1, int(period)))


async def sweep_interrupted_replies() -> int:
    stale = [
        str(pk)
        async for pk in Message.objects.filter(_stale()).values_list("pk", flat=True)[:1000]
    ]
    if not stale:
        return 0
    orphans = set(stale) - await _alive(stale)
    if not orphans:
        return 0
    # What a checkpoint kept in the cache is saved with the verdict: the text so far is not lost.
    saved = await cache.aget_many([checkpoint_key(pk) for pk in orphans])
    count = 0
    for pk in orphans:
        text, reasoning = checkpoint_parts(saved.get(checkpoint_key(pk)))
        if text or reasoning:
            count += await Message.objects.filter(_stale(), pk=pk).aupdate(
                status=Message.Status.FAILED, error=INTERRUPTED, content=text,
                reasoning=reasoning, updated_at=timezone.now(),
            )
    count += await Message.objects.filter(_stale(), pk__in=orphans).aupdate(
        status=Message.Status.FAILED, error=INTERRUPTED, updated_at=timezone.now()
    )
    if count:
        log.warning("marked %d orphaned replies as interrupted", count)
        await _tell_open_tabs(orphans)
        await _tell_receivers(orphans)
    return count


async def _tell_open_tabs(ids: set[str]) -> None:
    layer = get_channel_layer()
    async for message in Message.objects.filter(pk__in=ids, status=Message.Status.FAILED):
        event = {"kind": "done", "id": str(message.pk), "seq": -1,
                 "message": message_payload(message, with_content=False)}
        await layer.group_send(conversation_group(message.conversation_id),
                               {"type": GROUP_EVENT, "event": event, "origin": ""})


async def _tell_receivers(ids: set[str]) -> None:
    results = await replies_interrupted.asend_robust(sender=Message, message_ids=sorted(ids))
    for receiver, result in results:
        if isinstance(result, Exception):
            log.error("a receiver of replies_interrupted failed: %r", receiver, exc_info=result)
