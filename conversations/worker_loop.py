"""One event loop per Celery worker process, shared by every reply that process writes.

A Celery task is a thin handle: it submits the reply's coroutine to this loop and waits. Running
one loop per task instead would pay loop, client and TLS set-up per reply and, under load, start
tasks late (DESIGN.md, "Streaming, done right").
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_loop: asyncio.AbstractEventLoop | None = None
_lock = threading.Lock()


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop

        return uvloop.new_event_loop()
    except ImportError:  # pragma: no cover - uvloop is installed on Linux
        return asyncio.new_event_loop()


def shared_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = _new_loop()
            thread = threading.Thread(target=loop.run_forever, name="reply-loop", daemon=True)
            thread.start()
            _loop = loop
        return _loop


def run_on_shared_loop(coro: Coroutine[Any, Any, T], timeout: float) -> T:
    from analytics.request_ids import carrying_request_id  # the task's id into its reply's logs

    future = asyncio.run_coroutine_threadsafe(carrying_request_id(coro), shared_loop())
    try:
        return future.result(timeout)
    except TimeoutError:
        future.cancel()
        raise
