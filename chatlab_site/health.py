"""/healthz: is each service this process depends on reachable right now?"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import async_to_sync, iscoroutinefunction, sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.decorators import sync_and_async_middleware
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

log = logging.getLogger(__name__)
TIMEOUT = 3.0
PATH = "/healthz"

# The database check's own threads: with the database unreachable each check may wait on a
# connection for longer than TIMEOUT, and those waits must not take the threads other code
# shares (the loop's default executor also resolves host names).
_database_threads = ThreadPoolExecutor(max_workers=2, thread_name_prefix="healthz-db")


def _database(deadline: float) -> None:
    """SELECT 1, on a connection handed back (to the pool) or closed afterwards.

    A connection the server dropped while it sat idle (a restart, a failover,
    pg_terminate_backend) fails at once: it is thrown away and the next one tried, so a brief
    loss is over for this check as soon as the database answers again. Failing to connect at
    all, or running out of time, is the answer.
    """
    # The pool may hold a dead connection in every slot; each fails without a round trip.
    pool = settings.DATABASES["default"].get("OPTIONS", {}).get("pool")
    attempts = 1 + (pool.get("max_size", 4) if isinstance(pool, dict) else 4 if pool else 1)
    for attempt in range(attempts):
        if time.monotonic() > deadline:  # queued behind checks that waited: nobody is asking
            raise TimeoutError("database check started after its deadline")
        connection.ensure_connection()
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
                cursor.fetchone()
            return
        except DatabaseError:
            if attempt == attempts - 1:
                raise
        finally:
            # Not kept on this thread: a broken connection would fail every later check.
            connection.close_if_unusable_or_obsolete()


async def _channel_layer() -> None:
    layer = get_channel_layer()
    channel = await layer.new_channel("health.")
    await layer.send(channel, {"type": "health.ping"})
    # receive() is cancelled by the timeout if the message never comes back.
    message = await asyncio.wait_for(layer.receive(channel), TIMEOUT)
    if message.get("type") != "health.ping":
        raise RuntimeError("unexpected message")


def _broker() -> str:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "in-process"
    from chatlab_site.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=TIMEOUT)
    return "ok"


@never_cache
@require_GET
async def healthz(request: HttpRequest) -> JsonResponse:
    checks = {
        "database": asyncio.wait_for(
            sync_to_async(_database, thread_sensitive=False, executor=_database_threads)(
                time.monotonic() + TIMEOUT),
            TIMEOUT),
        "channel_layer": asyncio.wait_for(_channel_layer(), TIMEOUT + 1),
        "broker": asyncio.wait_for(sync_to_async(_broker, thread_sensitive=False)(), TIMEOUT + 1),
    }
    results = await asyncio.gather(*checks.values(), return_exceptions=True)
    status: dict[str, str] = {}
    for name, result in zip(checks, results, strict=True):
        if isinstance(result, BaseException):
            log.warning("health check %s failed: %r", name, result)
            status[name] = "down"
        else:
            status[name] = result if isinstance(result, str) else "ok"
    down = [name for name, state in status.items() if state == "down"]
    body = {"status": "down" if down else "ok", "checks": status, "down": down}
    return JsonResponse(body, status=503 if down else 200)


@sync_and_async_middleware
def health_middleware(get_response: Callable[[HttpRequest], Any]) -> Callable[[HttpRequest], Any]:
    """Answers /healthz before the session and authentication middleware run.

    A probe is nobody's visit, and with the database down a session cookie on it would make
    those middlewares wait on the database and fail with an HTML 500 instead of the JSON 503
    that names what is down.
    """
    if iscoroutinefunction(get_response):
        async def middleware(request: HttpRequest) -> HttpResponse:
            if request.path_info == PATH:
                request.get_host()  # ALLOWED_HOSTS still applies (CommonMiddleware would check)
                return await healthz(request)
            return await get_response(request)
    else:
        def middleware(request: HttpRequest) -> HttpResponse:
            if request.path_info == PATH:
                request.get_host()
                return async_to_sync(healthz)(request)
            return get_response(request)
    return middleware
