"""A job's progress goes to its conversation's group: every open tab, on any web process."""

from __future__ import annotations

import asyncio
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from conversations.services.fanout import conversation_group

from ..models import ImageJob
from .payloads import job_payload

log = logging.getLogger(__name__)

GROUP_EVENT = "image.event"

# The web server's event loop, in the embedded mode: its in-memory channel layer lives there, so
# a job running on a thread beside it hands its events to that loop instead of making its own.
_web_loop: asyncio.AbstractEventLoop | None = None


def remember_web_loop() -> None:
    global _web_loop
    _web_loop = asyncio.get_running_loop()


def job_event(job: ImageJob) -> None:
    """Called from the worker (a Celery task or the embedded mode's thread), never a loop."""
    if not job.conversation_id:
        return
    layer = get_channel_layer()
    group = conversation_group(job.conversation_id)
    message = {"type": GROUP_EVENT, "job": job_payload(job)}
    try:
        loop = _web_loop
        if loop is not None and loop.is_running() and not loop.is_closed():
            asyncio.run_coroutine_threadsafe(layer.group_send(group, message), loop).result(5)
        else:
            async_to_sync(layer.group_send)(group, message)
    except Exception:  # the job goes on; pages catch up from the stored state
        log.warning("channel layer unavailable; progress of image job %s not sent", job.pk)
