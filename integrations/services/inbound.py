"""The platform-neutral inbound event, and accepting it exactly once.

Webhook views verify the request, parse it into an Inbound, call inbound_accept and answer at
once. inbound_accept records the delivery key (a second delivery of the same update does
nothing) and hands the event to the Celery task on the `chat` queue in the same transaction: a
delivery counts as seen only once its work is queued. If the broker cannot take it, the key is
rolled back and InboundUnavailable tells the view to answer so that the platform retries (or,
where it never retries, to tell the person). In the embedded mode (no broker) there is no worker: the event goes to the web process's own event
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
from django.utils import translation
from kombu.exceptions import OperationalError

from ..models import Delivery

log = logging.getLogger(__name__)

COMMANDS = ("start", "new", "bots", "bot", "image", "lang", "usage", "link", "ask", "help",
            "retry")


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


class InboundUnavailable(Exception):
    """The broker could not take the work: nothing was recorded, so the same delivery sent
    again is taken as new."""


def unavailable_text(language: str = "") -> str:
    """What a person is told where the platform never re-sends (a slash command, a Discord
    interaction) when the work could not be queued."""
    with translation.override(language or None):
        return translation.gettext("Chatlab cannot take messages right now. Please send it "
                                   "again in a minute.")


# A webhook must answer within seconds (Slack waits 3, Discord 3): one quick second try covers a
# pooled broker connection that went stale; a broker that is down is reported at once.
_PUBLISH_RETRY = {"max_retries": 1, "interval_start": 0.1, "interval_step": 0.2,
                  "interval_max": 0.2}


def inbound_accept(inbound: Inbound) -> bool:
    """Records the delivery and queues its handling; False (and nothing queued) for a delivery
    already accepted. Raises InboundUnavailable, with nothing recorded, when the broker cannot
    take it."""
    payload = inbound.to_dict()
    queued = not settings.CELERY_TASK_ALWAYS_EAGER
    try:
        with transaction.atomic():
            Delivery.objects.create(integration_id=inbound.integration_id,
                                    key=inbound.delivery_key[:200])
            if queued:
                # Published before the key commits: a broker error rolls the key back, and the
                # uncommitted row makes an identical delivery arriving meanwhile wait for this
                # outcome (taken if this one fails, a duplicate if it is queued).
                _publish(payload)
    except IntegrityError:
        return False
    if not queued:
        transaction.on_commit(lambda: _dispatch(payload))
    return True


def _publish(payload: dict[str, Any]) -> None:
    from ..tasks import handle_inbound

    try:
        handle_inbound.apply_async(args=(payload,), queue="chat", retry=True,
                                   retry_policy=_PUBLISH_RETRY)
    except (OperationalError, OSError) as exc:
        log.warning("integration %s: the broker cannot take delivery %s (%s); not recorded, "
                    "so the platform's retry is taken", payload["integration_id"],
                    payload["delivery_key"], type(exc).__name__)
        raise InboundUnavailable from exc


# Embedded mode: handlings running on a loop of this process (tests and shutdown wait for them).
_inflight: set[concurrent.futures.Future[Any]] = set()
_inflight_lock = threading.Lock()


def _dispatch(payload: dict[str, Any]) -> None:
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
