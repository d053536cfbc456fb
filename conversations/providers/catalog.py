"""The models a provider serves (its /v1/models), for picking one when adding a bot."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import openai

from .base import ProviderError
from .capabilities import Capabilities, capabilities_for, provider_kind
from .openai_compat import ssl_context, translate

if TYPE_CHECKING:
    from conversations.models import Provider

# Where servers other than OpenAI tell a model's context window in /v1/models: OpenRouter,
# vLLM, LM Studio.
WINDOW_KEYS = ("context_length", "max_model_len", "max_context_length")


@dataclass(frozen=True)
class ModelChoice:
    id: str
    capabilities: Capabilities


def provider_models(provider: Provider) -> list[ModelChoice]:
    """Lists the provider's models through the SDK. Raises ProviderError (readable; never the
    key) when the provider cannot be asked."""
    kind = provider_kind(provider.kind, provider.base_url)
    client = openai.OpenAI(
        api_key=provider.api_key or "not-needed", base_url=provider.base_url or None,
        timeout=min(provider.timeout, 30.0), max_retries=0,
        http_client=openai.DefaultHttpxClient(verify=ssl_context()),
    )
    try:
        with client:
            listed = list(client.models.list())
    except openai.APIError as exc:
        error = translate(exc)
        raise ProviderError(error.message, code=error.code,
                            detail=_without(error.detail, provider.api_key)) from exc
    choices = []
    for model in sorted(listed, key=lambda m: m.id):
        known = capabilities_for(model.id, kind)
        window = _window(model.model_extra or {})
        if window and known.context_window is None:
            known = replace(known, context_window=window)
        choices.append(ModelChoice(id=model.id, capabilities=known))
    return choices


def _window(extra: dict[str, Any]) -> int | None:
    for key in WINDOW_KEYS:
        value = extra.get(key)
        if isinstance(value, int) and value >= 256:
            return value
    return None


def _without(text: str, secret: str) -> str:
    return text.replace(secret, "***") if secret else text
