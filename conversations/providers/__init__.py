"""Chat backends: one per Provider kind, all streaming text deltas then usage."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import ChatBackend, ChatRequest, ProviderError, ReasoningDelta, Usage
from .capabilities import provider_kind
from .demo import DemoBackend
from .openai_compat import OpenAICompatibleBackend

if TYPE_CHECKING:
    from conversations.models import Provider

__all__ = ["ChatBackend", "ChatRequest", "ProviderError", "ReasoningDelta", "Usage",
           "backend_for"]


def backend_for(provider: Provider) -> ChatBackend:
    if provider.kind == provider.Kind.DEMO:
        return DemoBackend()
    return OpenAICompatibleBackend(
        base_url=provider.base_url,
        api_key=provider.api_key,
        timeout=provider.timeout,
        max_retries=provider.max_retries,
        kind=provider_kind(provider.kind, provider.base_url),
    )
