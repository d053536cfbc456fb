"""What every chat backend offers the generation service, and how it reports failure."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Protocol

# Set by the caller for one reply: a backend that sends a request over the network calls it
# once the request has been written (an early start stores its message only then, so that
# the store's work does not delay the requests of other replies starting at the same moment).
request_written: ContextVar[Callable[[], None] | None] = ContextVar(
    "request_written", default=None
)


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: list[dict[str, str]]
    temperature: float
    max_tokens: int
    language: str = "en"
    # "reply", or "summary" for a rolling summary of older turns (the demo backend writes that
    # one locally instead of its demo text).
    purpose: str = "reply"


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int | None
    completion_tokens: int | None
    model: str = ""


@dataclass
class ProviderError(Exception):
    """A failure worded for the person waiting on the reply.

    ``retryable`` says whether trying again later may help (rate limit, 5xx, timeout) or not
    (bad key, unknown model); the client library has already spent its own retries either way.
    """

    message: str
    code: str = "provider_error"
    retryable: bool = False
    detail: str = field(default="", repr=False)

    def __str__(self) -> str:
        return self.message


class ChatBackend(Protocol):
    def stream(self, request: ChatRequest) -> AsyncIterator[str | Usage]:
        """Yields text deltas in order, then at most one Usage. Raises ProviderError."""
        ...
