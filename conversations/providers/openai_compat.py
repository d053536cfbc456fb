"""Chat through the official openai SDK against any OpenAI-compatible endpoint."""

from __future__ import annotations

import asyncio
import ssl
import weakref
from collections.abc import AsyncIterator
from functools import cache

import openai

from .base import ChatRequest, ProviderError, Usage

# Per event loop: an AsyncOpenAI client (and its connection pool) must not cross loops.
_clients: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple[object, ...], openai.AsyncOpenAI]
] = weakref.WeakKeyDictionary()


@cache
def ssl_context() -> ssl.SSLContext:
    # Building a context costs ~35 ms of CPU; a client made without one builds its own.
    return ssl.create_default_context()


def client_for(
    *, base_url: str, api_key: str, timeout: float, max_retries: int
) -> openai.AsyncOpenAI:
    loop = asyncio.get_running_loop()
    per_loop = _clients.setdefault(loop, {})
    key = (base_url, api_key, timeout, max_retries)
    client = per_loop.get(key)
    if client is None:
        http_client = openai.DefaultAsyncHttpxClient(
            verify=ssl_context(),
            limits=_limits(),
        )
        client = openai.AsyncOpenAI(
            api_key=api_key or "not-needed",
            base_url=base_url or None,
            timeout=openai.Timeout(timeout, connect=min(timeout, 10.0)),
            max_retries=max_retries,
            http_client=http_client,
        )
        per_loop[key] = client
    return client


def _limits():  # noqa: ANN202 - the type lives in the SDK's private http module
    import httpx2

    # One web process streams hundreds of replies at once; the SDK's default pool holds 100.
    return httpx2.Limits(max_connections=1000, max_keepalive_connections=200, keepalive_expiry=30)


class OpenAICompatibleBackend:
    def __init__(self, *, base_url: str, api_key: str, timeout: float, max_retries: int) -> None:
        self.client = client_for(
            base_url=base_url, api_key=api_key, timeout=timeout, max_retries=max_retries
        )

    async def stream(self, request: ChatRequest) -> AsyncIterator[str | Usage]:
        try:
            stream = await self.client.chat.completions.create(
                model=request.model,
                messages=request.messages,  # type: ignore[arg-type]
                temperature=request.temperature,
                max_tokens=request.max_tokens,
                stream=True,
                stream_options={"include_usage": True},
            )
            usage: Usage | None = None
            async with stream:
                async for chunk in stream:
                    if chunk.usage is not None:
                        usage = Usage(
                            prompt_tokens=chunk.usage.prompt_tokens,
                            completion_tokens=chunk.usage.completion_tokens,
                            model=chunk.model or request.model,
                        )
                    for choice in chunk.choices:
                        if choice.delta and choice.delta.content:
                            yield choice.delta.content
            if usage is not None:
                yield usage
        except openai.APIError as exc:
            raise translate(exc) from exc


def translate(exc: openai.APIError) -> ProviderError:
    """Turns an SDK exception into a reason a person can read."""
    detail = str(exc)[:500]
    if isinstance(exc, openai.RateLimitError):
        return ProviderError(
            "The model provider is rate-limiting requests. Please try again in a moment.",
            code="rate_limited", retryable=True, detail=detail,
        )
    if isinstance(exc, openai.APITimeoutError):
        return ProviderError(
            "The model provider did not answer in time.", code="timeout", retryable=True,
            detail=detail,
        )
    if isinstance(exc, openai.APIConnectionError):
        return ProviderError(
            "Could not reach the model provider.", code="unreachable", retryable=True,
            detail=detail,
        )
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return ProviderError(
            "The model provider refused the API key. An administrator needs to check it.",
            code="auth", detail=detail,
        )
    if isinstance(exc, openai.NotFoundError):
        return ProviderError(
            "The model provider does not know this bot's model.", code="model_not_found",
            detail=detail,
        )
    if isinstance(exc, openai.BadRequestError):
        return ProviderError(
            "The model provider rejected the request (it may be too long for the model).",
            code="bad_request", detail=detail,
        )
    if isinstance(exc, openai.InternalServerError):
        return ProviderError(
            "The model provider had an internal error. Please try again.",
            code="upstream_error", retryable=True, detail=detail,
        )
    return ProviderError(
        "The model provider returned an error. Please try again.",
        code="upstream_error", retryable=True, detail=detail,
    )
