"""Discord's HTTP API through httpx (Discord has no official Python library for HTTP
interactions), with its errors mapped to TransportError: a 429's retry_after and 5xx are worth
another try, any other 4xx (a bad token, an expired interaction) is permanent."""

from __future__ import annotations

from typing import Any

import httpx
from django.conf import settings

from conversations.providers.openai_compat import ssl_context

from ..transports.base import TransportError, scrub

USER_AGENT = "DiscordBot (https://github.com/chatlab/chatlab, 0.1)"
TIMEOUT = httpx.Timeout(15.0, connect=5.0)


def client_options(bot_token: str = "") -> dict[str, Any]:
    headers = {"User-Agent": USER_AGENT}
    if bot_token:
        headers["Authorization"] = f"Bot {bot_token}"
    return {"base_url": settings.CHATLAB_DISCORD_API_URL, "headers": headers,
            "timeout": TIMEOUT, "verify": ssl_context()}


def discord_error(response: httpx.Response | None, exc: Exception | None,
                  secrets: list[str]) -> TransportError:
    if response is None:
        return TransportError(scrub(f"Discord unreachable: {type(exc).__name__}", secrets))
    try:
        body = response.json()
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    status = response.status_code
    if status == 429:
        try:
            retry_after = float(body.get("retry_after") or response.headers.get("Retry-After", 1))
        except (TypeError, ValueError):
            retry_after = 1.0
        return TransportError("Discord: rate limited (429)", retry_after=retry_after)
    detail = body.get("message") or response.reason_phrase
    code = f", code {body['code']}" if body.get("code") else ""
    field = _first_field_error(body.get("errors"))
    message = scrub(f"Discord: {status} {detail}{code}{field}", secrets)
    return TransportError(message, permanent=status < 500)


def _first_field_error(errors: Any, path: str = "") -> str:
    """Discord nests form errors by field ({"a": {"_errors": [{"message": ...}]}}): the first."""
    if not isinstance(errors, dict):
        return ""
    for key, value in errors.items():
        if key == "_errors" and isinstance(value, list) and value:
            first = value[0] if isinstance(value[0], dict) else {}
            return f" ({path}: {first.get('message', '')})"
        found = _first_field_error(value, f"{path}.{key}" if path else str(key))
        if found:
            return found
    return ""


def checked(response: httpx.Response, secrets: list[str]) -> Any:
    if response.status_code >= 400:
        raise discord_error(response, None, secrets)
    if response.status_code == 204 or not response.content:
        return None
    return response.json()


async def discord_call(method: str, path: str, *, secrets: list[str], bot_token: str = "",
                       **kwargs: Any) -> Any:
    try:
        async with httpx.AsyncClient(**client_options(bot_token)) as client:
            response = await client.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        raise discord_error(None, exc, secrets) from None
    return checked(response, secrets)


def discord_call_sync(method: str, path: str, *, secrets: list[str], bot_token: str = "",
                      **kwargs: Any) -> Any:
    try:
        with httpx.Client(**client_options(bot_token)) as client:
            response = client.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        raise discord_error(None, exc, secrets) from None
    return checked(response, secrets)
