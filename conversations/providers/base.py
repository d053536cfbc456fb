"""What every chat backend offers the generation service, and how it reports failure."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Protocol

from .capabilities import Capabilities

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
    # What the bot's model accepts (None: what its name tells); the backend builds the body
    # from it, and stores a correction on bot_id when the server still refuses a parameter.
    capabilities: Capabilities | None = None
    bot_id: int | None = None
    # Yield ReasoningDelta items for a model that streams its reasoning (chat replies set it;
    # titles and summaries want the answer alone).
    want_reasoning: bool = False


@dataclass(frozen=True)
class ReasoningDelta:
    """A piece of what a reasoning model thought before (or while) answering."""

    text: str


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int | None
    completion_tokens: int | None
    model: str = ""
    # Of completion_tokens, those spent reasoning (completion_tokens_details.reasoning_tokens).
    reasoning_tokens: int | None = None


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
    def stream(self, request: ChatRequest) -> AsyncIterator[str | ReasoningDelta | Usage]:
        """Yields text deltas in order (and ReasoningDelta items if the request wants them),
        then at most one Usage. Raises ProviderError."""
        ...
