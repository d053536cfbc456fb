"""/healthz: is each service this process depends on reachable right now?"""

from __future__ import annotations

import asyncio
import logging

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

log = logging.getLogger(__name__)
TIMEOUT = 3.0


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


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
        "database": asyncio.wait_for(sync_to_async(_database, thread_sensitive=False)(), TIMEOUT),
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
