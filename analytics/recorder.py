"""Logins and errors are kept in this process and written in batches by a thread of their own
(every CHATLAB_ANALYTICS_FLUSH_SECONDS or ANALYTICS_BATCH events, and at exit), so recording
never waits on the database, never writes from an event loop, and a failure to write is logged
and dropped instead of reaching the caller.

With CHATLAB_ANALYTICS_FLUSH_SECONDS=0 (the tests) nothing is written until ``flush()``.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import close_old_connections, transaction
from django.db.models import F

# Its own warnings must not become ErrorEvents (error_log skips this logger): a database that
# is down would otherwise feed itself.
log = logging.getLogger("analytics.recorder")

BATCH = 200
LIMIT = 20_000  # kept at most while the database is away; the oldest go first


@dataclass
class ErrorRecord:
    fingerprint: str
    logger: str
    level: str
    message: str
    exception: str
    location: str
    traceback: str
    at: datetime
    request_id: str


@dataclass
class _State:
    pending: deque[tuple[str, Any]] = field(default_factory=lambda: deque(maxlen=LIMIT))
    wake: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    thread: threading.Thread | None = None
    pid: int = 0


_state = _State()


def record_event(**fields: Any) -> None:
    """Queues a UsageEvent (kind, at, user_id, role, channel, request_id, detail)."""
    _push(("event", fields))


def record_error(error: ErrorRecord) -> None:
    _push(("error", error))


def _push(item: tuple[str, Any]) -> None:
    _state.pending.append(item)
    interval = settings.CHATLAB_ANALYTICS_FLUSH_SECONDS
    if interval <= 0:
        return
    if _state.thread is None or _state.pid != os.getpid() or not _state.thread.is_alive():
        _start(interval)
    if len(_state.pending) >= BATCH:
        _state.wake.set()


def _start(interval: float) -> None:
    with _state.lock:
        if _state.thread is not None and _state.pid == os.getpid() and _state.thread.is_alive():
            return
        _state.pid = os.getpid()
        _state.wake = threading.Event()
        _state.thread = threading.Thread(target=_run, args=(interval,), name="analytics-flush",
                                         daemon=True)
        _state.thread.start()


def _run(interval: float) -> None:
    while True:
        _state.wake.wait(interval)
        _state.wake.clear()
        flush()
        close_old_connections()


def pending() -> int:
    return len(_state.pending)


def discard() -> None:
    _state.pending.clear()


def flush() -> int:
    """Writes what is queued; returns how many items were written (0 on failure, logged)."""
    items: list[tuple[str, Any]] = []
    while True:
        try:
            items.append(_state.pending.popleft())
        except IndexError:
            break
    if not items:
        return 0
    try:
        with transaction.atomic():
            _write_events([f for kind, f in items if kind == "event"])
            _write_errors([e for kind, e in items if kind == "error"])
    except Exception:
        log.warning("could not write %d analytics records", len(items), exc_info=True)
        return 0
    return len(items)


def _write_events(events: list[dict[str, Any]]) -> None:
    if not events:
        return
    from django.contrib.auth import get_user_model

    from .models import UsageEvent

    wanted = {e.get("user_id") for e in events} - {None}
    # A person deleted meanwhile leaves an event without them.
    known = set(get_user_model().objects.filter(pk__in=wanted).values_list("pk", flat=True))
    UsageEvent.objects.bulk_create([
        UsageEvent(**{**e, "user_id": e.get("user_id") if e.get("user_id") in known else None})
        for e in events
    ])


def _write_errors(errors: list[ErrorRecord]) -> None:
    if not errors:
        return
    from .models import ErrorEvent, Kind, UsageEvent

    grouped: dict[str, list[ErrorRecord]] = {}
    for error in errors:
        grouped.setdefault(error.fingerprint, []).append(error)
    ErrorEvent.objects.bulk_create(
        [ErrorEvent(fingerprint=fp, logger=first.logger, level=first.level,
                    message=first.message[:5000], exception=first.exception[:200],
                    location=first.location[:300], traceback=first.traceback[:20000], count=0,
                    first_seen=first.at, last_seen=first.at)
         for fp, (first, *_rest) in grouped.items()],
        ignore_conflicts=True,
    )
    for fp, group in grouped.items():
        last = group[-1]
        ErrorEvent.objects.filter(fingerprint=fp).update(
            count=F("count") + len(group), last_seen=last.at, level=last.level,
            message=last.message[:5000], traceback=last.traceback[:20000],
            last_request_id=last.request_id[:64],
        )
    UsageEvent.objects.bulk_create([
        UsageEvent(kind=Kind.ERROR, at=e.at, request_id=e.request_id[:64],
                   detail=e.fingerprint) for e in errors
    ])


atexit.register(flush)
