"""The chat's own database threads (in web processes and `chat` workers).

Django runs async code's database calls on one thread per process, in order. A send is a few
round trips; with many sockets sending at once (or a worker starting dozens of replies), each
waits for every call queued before it. These calls run on a small pool instead, each thread
with its own connection, so their round trips overlap. SQLite allows one writer at a time, so
there the shared thread stays.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import connection, connections

_pool: ThreadPoolExecutor | None = None


def on_db_thread(func: Callable[..., Any]) -> Callable[..., Any]:
    """``database_sync_to_async`` on the chat pool (or on the shared thread, see above)."""
    global _pool
    threads = settings.CHATLAB_CHAT_DB_THREADS
    if threads <= 0 or connection.vendor == "sqlite":
        return database_sync_to_async(func)
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="chat-db")
    return database_sync_to_async(func, thread_sensitive=False, executor=_pool)


def releasing(func: Callable[..., Any]) -> Callable[..., Any]:
    """Runs func, then hands this thread's database connections back (to the pool) unless a
    transaction is open around the call (a test's). An async view's sync calls otherwise keep
    their connection until the response ends: for a streamed reply, the whole reply."""

    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        finally:
            for conn in connections.all(initialized_only=True):
                if not conn.in_atomic_block:
                    conn.close_if_unusable_or_obsolete()

    return run
