"""The platform-neutral inbound event, and accepting it exactly once.

Webhook views verify the request, parse it into an Inbound, call inbound_accept and answer at
once. inbound_accept records the delivery key (a second delivery of the same update does
nothing) and, once that commits, hands the event to the Celery task on the `chat` queue. In the
embedded mode (no broker) there is no worker: the event goes to the web process's own event
loop, as REST replies do (conversations.services.dispatch), because the in-memory channel layer
that shows the reply to open web tabs lives on that loop, and the webhook must not wait for the
reply.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import dataclasses
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import SyncToAsync
from django.conf import settings
from django.db import IntegrityError, transaction

from ..models import Delivery

log = logging.getLogger(__name__)

COMMANDS = ("start", "new", "bots", "bot", "image", "lang", "usage", "link", "ask", "help")


@dataclass(frozen=True)
class Inbound:
    integration_id: int
    delivery_key: str  # update_id / event_id / interaction id: the deduplication key
    sender_id: str  # the person's id on the platform
    sender_name: str
    chat_id: str  # where the answer goes
    thread_id: str = ""  # Slack thread_ts, Telegram topic; "" if none
    text: str = ""  # the message, the bot's mention stripped
    command: str = ""  # one of COMMANDS, another word after "/", or ""
    argument: str = ""  # the text after the command
    reply_ref: dict[str, Any] = field(default_factory=dict)  # what the transport needs
    language: str = ""  # the sender's app language, if the platform says: for command answers

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Inbound:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def inbound_accept(inbound: Inbound) -> bool:
    """Records the delivery and queues its handling; False (and nothing queued) for a delivery
    already accepted."""
    try:
        with transaction.atomic():
            Delivery.objects.create(integration_id=inbound.integration_id,
                                    key=inbound.delivery_key[:200])
    except IntegrityError:
        return False
    payload = inbound.to_dict()
    transaction.on_commit(lambda: _dispatch(payload))
    return True


# Embedded mode: handlings running on a loop of this process (tests and shutdown wait for them).
_inflight: set[concurrent.futures.Future[Any]] = set()
_inflight_lock = threading.Lock()


def _dispatch(payload: dict[str, Any]) -> None:
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        from ..tasks import handle_inbound

        handle_inbound.apply_async(args=(payload,), queue="chat")
        return
    from conversations.worker_loop import shared_loop

    web_loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    loop = web_loop if web_loop is not None and web_loop.is_running() else shared_loop()
    future = asyncio.run_coroutine_threadsafe(_detached(payload), loop)
    with _inflight_lock:
        _inflight.add(future)
    future.add_done_callback(_forget)


async def _detached(payload: dict[str, Any]) -> None:
    from .handling import inbound_handle

    # A fresh context, as the reply runner gives replies: the webhook's request context (and
    # its per-request sync executor, gone once the view returns) must not be inherited.
    await asyncio.create_task(inbound_handle(Inbound.from_dict(payload)),
                              context=contextvars.Context())


def _forget(future: concurrent.futures.Future[Any]) -> None:
    with _inflight_lock:
        _inflight.discard(future)
    if not future.cancelled() and future.exception() is not None:
        log.error("messenger handling failed", exc_info=future.exception())


def inbound_wait(timeout: float = 30.0) -> None:
    """Waits for the embedded mode's handlings started so far (tests, graceful shutdown)."""
    with _inflight_lock:
        pending = list(_inflight)
    concurrent.futures.wait(pending, timeout=timeout)
