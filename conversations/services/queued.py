"""Replies that run on the Celery `chat` queue (messengers, and any caller without a loop)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from conversations.db_threads import on_db_thread, releasing
from conversations.models import Message
from conversations.worker_loop import run_on_shared_loop

from .generation import reply_for_writing
from .runner import runner


def reply_enqueue(message_id: uuid.UUID | str) -> None:
    """Queues a PENDING reply once the surrounding transaction commits."""
    from conversations.tasks import generate_reply

    transaction.on_commit(lambda: generate_reply.delay(str(message_id)))


def reply_claim(message_id: str) -> tuple[Message | None, str]:
    """Claims a pending reply: (the reply, loaded for writing, "") or (None, why not).

    The claim is a conditional update, so a task delivered twice writes the reply once. A reply
    already claimed by a worker that died is left to the sweep, which marks it interrupted.
    """
    claimed = Message.objects.filter(pk=message_id, status=Message.Status.PENDING).update(
        status=Message.Status.STREAMING, updated_at=timezone.now()
    )
    if not claimed:
        return None, _status(message_id) or "missing"
    reply = reply_for_writing(message_id)
    return (reply, "") if reply is not None else (None, "missing")


def _status(message_id: str) -> str | None:
    return Message.objects.filter(pk=message_id).values_list("status", flat=True).first()


def reply_run_queued(message_id: str) -> str:
    """Claims a pending reply on this thread (a Celery task's), then writes it on the worker's
    shared event loop and waits; returns the reply's final status.

    The claim runs here, on the task's own thread and connection: a worker starts dozens of
    replies at once, and on the loop each would queue for a database thread and back.
    """
    reply, status = releasing(reply_claim)(message_id)
    if reply is None:
        return status
    return run_on_shared_loop(_write(reply), timeout=settings.CHATLAB_REPLY_TIMEOUT + 60)


async def _write(reply: Message) -> str:
    live = runner().start(reply.pk, reply.conversation_id, reply=reply)
    if live.task is not None:
        await live.task
    if live.status:
        return live.status
    status = await on_db_thread(_status)(reply.pk)  # ended elsewhere (a stop, the sweep)
    return status or "missing"
