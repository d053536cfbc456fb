"""A fixed-window rate limit in the cache, per client address and per account."""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest


@dataclass
class RateLimited(Exception):
    retry_after: int


def client_ip(request: HttpRequest) -> str:
    # Behind a trusted proxy REMOTE_ADDR is the proxy; only then is X-Forwarded-For believed,
    # since a client could otherwise pick a new address for every attempt.
    if getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")[0].strip()
        if forwarded:
            return forwarded
    return request.META.get("REMOTE_ADDR", "")


def hit(request: HttpRequest, action: str, *, limit: int, period: int, key: str = "") -> None:
    """Counts one attempt; raises RateLimited past `limit` attempts in `period` seconds,
    counted both per address and (when given) per account key."""
    window = int(time.time() // period)
    retry_after = period - int(time.time() % period)
    for scope in (f"ip:{client_ip(request)}", f"key:{key}" if key else None):
        if scope is None:
            continue
        name = f"rl:{action}:{scope}:{window}"
        cache.add(name, 0, timeout=period)
        try:
            count = cache.incr(name)
        except ValueError:  # expired between add and incr
            cache.set(name, 1, timeout=period)
            count = 1
        if count > limit:
            raise RateLimited(retry_after)
