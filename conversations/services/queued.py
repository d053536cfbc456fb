"""Replies that run on the Celery `chat` queue (messengers, and any caller without a loop)."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from conversations.db_threads import on_db_thread, releasing
from conversations.models import Message
from conversations.providers import ChatRequest
from conversations.worker_loop import run_on_shared_loop

from .context import build_request
from .generation import reply_for_writing
from .runner import runner

log = logging.getLogger(__name__)


def reply_enqueue(message_id: uuid.UUID | str) -> None:
    """Queues a PENDING reply once the surrounding transaction commits."""
    from conversations.tasks import generate_reply

    transaction.on_commit(lambda: generate_reply.delay(str(message_id)))


@dataclass
class ClaimedReply:
    """A reply this worker now writes, loaded for writing, with its model request."""

    reply: Message
    # None when building it failed here: the generator builds it again and words the failure.
    request: ChatRequest | None


def reply_claim(message_id: str) -> ClaimedReply | str:
    """Claims a pending reply and builds its model request; else says why not ("missing", or
    the status of a reply claimed already).

    The claim is a conditional update, so a task delivered twice writes the reply once. A reply
    already claimed by a worker that died is left to the sweep, which marks it interrupted.
    """
    claimed = Message.objects.filter(pk=message_id, status=Message.Status.PENDING).update(
        status=Message.Status.STREAMING, updated_at=timezone.now()
    )
    if not claimed:
        return _status(message_id) or "missing"
    reply = reply_for_writing(message_id)
    if reply is None:
        return "missing"
    try:
        request = build_request(reply)
    except Exception:
        log.warning("building the request of %s failed; the generator tries again", message_id,
                    exc_info=True)
        request = None
    return ClaimedReply(reply, request)


def _status(message_id: object) -> str | None:
    return Message.objects.filter(pk=message_id).values_list("status", flat=True).first()


def reply_run_queued(message_id: str) -> str:
    """Claims a pending reply on this thread (a Celery task's), then writes it on the worker's
    shared event loop and waits; returns the reply's final status.

    Everything before the model request (claim, load, context) runs here, on the task's own
    thread and connection, in one go: a worker starts dozens of replies at once, and each hop
    between threads then waits for the GIL (measured: a hop to a database thread and back
    for the context alone added 40-60 ms to the first token at 50 chats).
    """
    claimed = releasing(reply_claim)(message_id)
    if isinstance(claimed, str):
        return claimed
    return run_on_shared_loop(_write(claimed), timeout=settings.CHATLAB_REPLY_TIMEOUT + 60)


async def _write(claimed: ClaimedReply) -> str:
    reply = claimed.reply
    live = runner().start(reply.pk, reply.conversation_id, reply=reply, request=claimed.request)
    if live.task is not None:
        await live.task
    if live.status:
        return live.status
    status = await on_db_thread(_status)(reply.pk)  # ended elsewhere (a stop, the sweep)
    return status or "missing"
