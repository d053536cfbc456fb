"""Replies that run on the Celery `chat` queue (messengers, and any caller without a loop)."""

from __future__ import annotations

import uuid

from django.db import transaction
from django.utils import timezone

from conversations.models import Message

from .runner import runner


def reply_enqueue(message_id: uuid.UUID | str) -> None:
    """Queues a PENDING reply once the surrounding transaction commits."""
    from conversations.tasks import generate_reply

    transaction.on_commit(lambda: generate_reply.delay(str(message_id)))


async def reply_run_queued(message_id: str) -> str:
    """Claims a pending reply and writes it on this loop; returns the reply's final status.

    The claim is a conditional update, so a task delivered twice writes the reply once. A reply
    already claimed by a worker that died is left to the sweep, which marks it interrupted.
    """
    reply = await Message.objects.filter(pk=message_id).values("conversation_id", "status").afirst()
    if reply is None:
        return "missing"
    claimed = await Message.objects.filter(pk=message_id, status=Message.Status.PENDING).aupdate(
        status=Message.Status.STREAMING, updated_at=timezone.now()
    )
    if not claimed:
        return reply["status"]
    live = runner().start(message_id, reply["conversation_id"])
    if live.task is not None:
        await live.task
    final = await Message.objects.filter(pk=message_id).values_list("status", flat=True).afirst()
    return final or "missing"
