"""Celery task (queue `chat`): a thin handle that runs the handling on the worker's shared loop."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.conf import settings

from conversations.worker_loop import run_on_shared_loop


# At most once (acks_late off): a redelivered update would answer twice in the chat.
@shared_task(name="integrations.tasks.handle_inbound", acks_late=False, ignore_result=True)
def handle_inbound(payload: dict[str, Any]) -> None:
    # No Celery retry: the delivery is recorded once, and the transports retry what helps.
    from .services.handling import inbound_handle
    from .services.inbound import Inbound

    run_on_shared_loop(inbound_handle(Inbound.from_dict(payload)),
                       timeout=settings.CHATLAB_REPLY_TIMEOUT + 120)


# Scheduled on `maintenance` by the migration 0002_cleanup_schedule (the queue is set there).
@shared_task(name="integrations.tasks.forget_deliveries", ignore_result=True)
def forget_deliveries() -> int:
    from .services.cleanup import deliveries_forget

    return deliveries_forget()
