"""A job's progress goes to its conversation's group: every open tab, on any web process."""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from conversations.services.fanout import conversation_group

from ..models import ImageJob
from .payloads import job_payload

log = logging.getLogger(__name__)

GROUP_EVENT = "image.event"


def job_event(job: ImageJob) -> None:
    """Called from the worker (a Celery task or the embedded mode's thread), never a loop."""
    if not job.conversation_id:
        return
    try:
        async_to_sync(get_channel_layer().group_send)(
            conversation_group(job.conversation_id),
            {"type": GROUP_EVENT, "job": job_payload(job)},
        )
    except Exception:  # the job goes on; pages catch up from the stored state
        log.warning("channel layer unavailable; progress of image job %s not sent", job.pk)
