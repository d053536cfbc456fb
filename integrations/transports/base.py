"""What every messenger's outbound transport offers, and the one retry rule they share.

A platform's module `integrations.<platform>.transport` defines `transport(integration)` that
returns an object with this shape. Errors say whether they are permanent (a revoked token, a
chat the bot was removed from) or worth another try (429 with retry_after, 5xx, the network):
only the second kind is retried, and never for long.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from django.conf import settings

if TYPE_CHECKING:
    from integrations.models import Integration

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class Target:
    """Where an answer goes: the chat, its thread, and what the platform needs to answer there
    (Telegram: the message to reply to; Slack: response_url; Discord: the interaction token)."""

    chat_id: str
    thread_id: str = ""
    reply_ref: dict[str, Any] = field(default_factory=dict)


class TransportError(Exception):
    def __init__(self, message: str, *, permanent: bool = False,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.retry_after = retry_after


class Transport(Protocol):
    max_chars: int  # the platform's message limit
    edit_interval: float  # seconds between edits of a growing reply

    async def send(self, target: Target, text: str) -> str: ...

    async def edit(self, target: Target, ref: str, text: str) -> None: ...

    async def send_image(self, target: Target, data: bytes, filename: str,
                         caption: str) -> None: ...

    def render(self, markdown: str) -> str: ...


def transport_for(integration: Integration) -> Transport:
    module = importlib.import_module(f"integrations.{integration.platform}.transport")
    return module.transport(integration)


def scrub(text: str, secrets: list[str]) -> str:
    """The text with every secret replaced: error messages may quote a URL with the token."""
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


async def with_retries(call: Callable[[], Awaitable[T]], *, what: str = "call") -> T:
    """Runs call, again after a non-permanent TransportError (waiting retry_after when the
    platform says how long, else a short growing pause), at most CHATLAB_MESSENGER_RETRIES
    times in all. A retry_after longer than CHATLAB_MESSENGER_MAX_RETRY_AFTER is not waited
    out: the error goes to the caller."""
    attempts = settings.CHATLAB_MESSENGER_RETRIES
    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except TransportError as exc:
            if exc.permanent or attempt == attempts:
                raise
            delay = exc.retry_after if exc.retry_after is not None else 0.2 * 2 ** (attempt - 1)
            if delay > settings.CHATLAB_MESSENGER_MAX_RETRY_AFTER:
                raise
            log.info("%s failed (%s); retrying in %.1f s", what, exc.message, delay)
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")


def split_text(text: str, limit: int) -> list[str]:
    """Splits a long reply into messages of at most limit characters, at a paragraph, line or
    word break where there is one in the second half of the piece."""
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = -1
        for sep in ("\n\n", "\n", " "):
            cut = rest.rfind(sep, limit // 2, limit)
            if cut > 0:
                cut += len(sep)
                break
        if cut <= 0:
            cut = limit
        pieces.append(rest[:cut])
        rest = rest[cut:]
    pieces.append(rest)
    return pieces
