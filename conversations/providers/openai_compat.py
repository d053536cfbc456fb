"""Chat through the official openai SDK against any OpenAI-compatible endpoint."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import ssl
import urllib.request
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

import httpx2
import openai
from django.utils.translation import gettext_noop

from .base import ChatRequest, ProviderError, ReasoningDelta, Usage, request_written
from .capabilities import (
    COMPATIBLE,
    MAX_COMPLETION_TOKENS,
    MAX_TOKENS,
    Capabilities,
    capabilities_for,
)
from .transport import StreamingTransport

log = logging.getLogger(__name__)

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
            transport=_transport(),
            verify=ssl_context(),
            limits=_limits(),
            event_hooks={"request": [_watch_request]},
        )
        client = openai.AsyncOpenAI(
            api_key=api_key or "not-needed",
            base_url=base_url or None,
            timeout=openai.Timeout(timeout, connect=min(timeout, 10.0)),
            max_retries=max_retries,
            http_client=http_client,
        )
        per_loop[key] = client
        _http_clients[client] = http_client
    return client


async def _watch_request(request: httpx2.Request) -> None:
    # httpcore reports the request's progress through the "trace" extension; only a reply
    # that asked to know (request_written) pays for it.
    callback = request_written.get()
    if callback is not None:
        async def trace(event: str, info: object) -> None:
            if event.endswith("send_request_body.complete"):
                callback()

        request.extensions = {**request.extensions, "trace": trace}


def _transport() -> StreamingTransport | None:
    # httpx honours HTTP(S)_PROXY, ALL_PROXY and NO_PROXY only with its own transport.
    if urllib.request.getproxies():
        return None
    return StreamingTransport(ssl_context=ssl_context())


def warm_up() -> None:
    """Builds the SSL context and imports the HTTP transport a first client would."""
    openai.DefaultAsyncHttpxClient(verify=ssl_context(), limits=_limits())


def _limits() -> httpx2.Limits:
    # One web process streams hundreds of replies at once; the SDK's default pool holds 100.
    return httpx2.Limits(max_connections=1000, max_keepalive_connections=200, keepalive_expiry=30)


class OpenAICompatibleBackend:
    def __init__(self, *, base_url: str, api_key: str, timeout: float, max_retries: int,
                 kind: str = COMPATIBLE) -> None:
        self.client = client_for(
            base_url=base_url, api_key=api_key, timeout=timeout, max_retries=max_retries
        )
        self.kind = kind  # providers.capabilities.provider_kind

    async def stream(self, request: ChatRequest) -> AsyncIterator[str | ReasoningDelta | Usage]:
        # The event stream is read as raw lines: parsing every chunk into SDK models cost about
        # five times the CPU of json.loads, a third of a web process's CPU at 100 replies.
        try:
            response = await self._open_stream(request)
            try:
                usage: Usage | None = None
                finished = False
                async for line in response.aiter_lines():
                    # After [DONE] the body is read to its end, so that the connection goes
                    # back to the pool for the next reply.
                    if finished or not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        finished = True
                        continue
                    chunk = json.loads(data)
                    if chunk.get("error"):
                        raise _stream_error(chunk["error"])
                    if chunk.get("usage"):
                        usage = _usage(chunk, request.model)
                    for choice in chunk.get("choices") or ():
                        delta = choice.get("delta") or {}
                        if request.want_reasoning:
                            # DeepSeek-R1 on vLLM, Ollama, LM Studio: reasoning_content;
                            # OpenRouter: reasoning.
                            thought = delta.get("reasoning_content") or delta.get("reasoning")
                            if thought and isinstance(thought, str):
                                yield ReasoningDelta(thought)
                        content = delta.get("content")
                        if content:
                            yield content
            finally:
                await response.aclose()
            if usage is not None:
                yield usage
        except openai.APIError as exc:
            raise translate(exc) from exc
        except (httpx2.TransportError, ValueError) as exc:
            raise ProviderError(
                gettext_noop("The connection to the model provider was lost mid-reply."),
                code="connection_lost", retryable=True, detail=str(exc)[:500],
            ) from exc

    async def _open_stream(self, request: ChatRequest) -> httpx2.Response:
        """Sends the body the model accepts. A server that still refuses a parameter (400
        unsupported_parameter or unsupported_value) gets the request once more without it, and
        the bot's capabilities are corrected, so a misconfigured bot heals on its first reply."""
        capabilities = request.capabilities or capabilities_for(request.model, self.kind)
        corrected: set[str] = set()
        while True:
            try:
                return await self._post(json.dumps(request_body(request, capabilities)).encode())
            except openai.BadRequestError as exc:
                fix = correction(exc, capabilities)
                if fix is None or fix.param in corrected:
                    raise
                corrected.add(fix.param)
                capabilities = fix.capabilities
                log.warning("bot %s (model %s): the provider refused '%s'; retrying with %s",
                            request.bot_id, request.model, fix.param, fix.fields)
                if request.bot_id is not None:
                    await _store_correction(request.bot_id, fix.fields)

    async def _post(self, body: bytes) -> httpx2.Response:
        """POSTs the chat request on the SDK's HTTP client, with the SDK's headers, timeouts,
        retry rules and errors, without its per-request machinery: building the request
        through the SDK (options models, URL and header merging) was the largest share of a
        web process's CPU per reply start (bench/README.md), spent before the request left."""
        plan = _request_plan(self.client)
        for attempt in range(plan.retries + 1):
            last = attempt == plan.retries
            http_request = httpx2.Request("POST", plan.url, headers=plan.headers, content=body,
                                          extensions={"timeout": plan.timeout})
            try:
                response = await plan.http.send(http_request, stream=True)
            except httpx2.TransportError as exc:
                if last:
                    timed_out = isinstance(exc, httpx2.TimeoutException)
                    error = openai.APITimeoutError if timed_out else openai.APIConnectionError
                    raise error(request=http_request) from exc
                await asyncio.sleep(retry_delay(attempt))
                continue
            if response.status_code < 400:
                return response
            await response.aread()
            await response.aclose()
            if last or not should_retry(response):
                raise status_error(response)
            await asyncio.sleep(retry_delay(attempt, response.headers))
        raise AssertionError("unreachable: the last attempt returns or raises")


def request_body(request: ChatRequest, capabilities: Capabilities) -> dict[str, Any]:
    """The chat request as this model takes it."""
    body: dict[str, Any] = {"model": request.model, "messages": request.messages}
    if capabilities.accepts_temperature:
        body["temperature"] = request.temperature
    body[capabilities.output_limit_param] = request.max_tokens
    if capabilities.reasoning_effort:
        body["reasoning_effort"] = capabilities.reasoning_effort
    body["stream"] = True
    body["stream_options"] = {"include_usage": True}
    return body


def _usage(chunk: dict[str, Any], model: str) -> Usage:
    usage = chunk["usage"]
    details = usage.get("completion_tokens_details")
    return Usage(
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens"),
        model=chunk.get("model") or model,
        reasoning_tokens=details.get("reasoning_tokens") if isinstance(details, dict) else None,
    )


@dataclass(frozen=True)
class Correction:
    param: str  # the refused one
    capabilities: Capabilities  # to retry with
    fields: dict[str, object]  # the bot's fields that say so


_REFUSED = ("unsupported_parameter", "unsupported_value")


def correction(exc: openai.BadRequestError, capabilities: Capabilities) -> Correction | None:
    """What to change when the server refused one of the parameters Chatlab sent, or None."""
    param, code = exc.param, exc.code
    if param in (MAX_TOKENS, MAX_COMPLETION_TOKENS) and code in _REFUSED \
            and param == capabilities.output_limit_param:
        other = MAX_COMPLETION_TOKENS if param == MAX_TOKENS else MAX_TOKENS
        changed = {"output_limit_param": other}
    elif param in ("temperature", "top_p") and code in _REFUSED \
            and capabilities.accepts_temperature:
        changed = {"accepts_temperature": False}
    elif param == "reasoning_effort" and code in (*_REFUSED, "invalid_value") \
            and capabilities.reasoning_effort:
        changed = {"reasoning_effort": ""}
    else:
        return None
    return Correction(param=param, capabilities=replace(capabilities, **changed),
                      fields=dict(changed))


async def _store_correction(bot_id: int, fields: dict[str, object]) -> None:
    # Imported here: the providers package is imported by the models module.
    from conversations.db_threads import on_db_thread
    from conversations.models import Bot

    def save() -> None:
        Bot.objects.filter(pk=bot_id).update(**fields)

    try:
        await on_db_thread(save)()
    except Exception:
        # The retry goes on: the next reply corrects it again.
        log.warning("could not store the corrected capabilities of bot %s", bot_id, exc_info=True)


@dataclass(frozen=True)
class _RequestPlan:
    http: httpx2.AsyncClient
    url: httpx2.URL
    headers: httpx2.Headers
    timeout: dict[str, float | None]
    retries: int


_plans: weakref.WeakKeyDictionary[openai.AsyncOpenAI, _RequestPlan] = weakref.WeakKeyDictionary()
# The HTTP client each SDK client was given (client_for builds both): the chat request is sent on
# it, so it shares the SDK client's connection pool and transport.
_http_clients: weakref.WeakKeyDictionary[openai.AsyncOpenAI, httpx2.AsyncClient] = (
    weakref.WeakKeyDictionary())


def _request_plan(client: openai.AsyncOpenAI) -> _RequestPlan:
    """What every chat request of one client shares, worked out once."""
    plan = _plans.get(client)
    if plan is None:
        headers = {k: v for k, v in {**client.default_headers, **client.auth_headers}.items()
                   if isinstance(v, str)}
        timeout = client.timeout if isinstance(client.timeout, httpx2.Timeout) else (
            httpx2.Timeout(client.timeout))
        plan = _plans[client] = _RequestPlan(
            http=_http_clients[client],
            url=httpx2.URL(str(client.base_url).rstrip("/") + "/chat/completions"),
            headers=httpx2.Headers(headers),
            timeout=timeout.as_dict(),
            retries=client.max_retries,
        )
    return plan


# The status errors the SDK raises, by status (its public classes; 5xx are InternalServerError).
_STATUS_ERRORS: dict[int, type[openai.APIStatusError]] = {
    400: openai.BadRequestError, 401: openai.AuthenticationError,
    403: openai.PermissionDeniedError, 404: openai.NotFoundError, 409: openai.ConflictError,
    422: openai.UnprocessableEntityError, 429: openai.RateLimitError,
}


def status_error(response: httpx2.Response) -> openai.APIStatusError:
    """The error the SDK raises for this refused request: the same class, message and body
    (whose `code` and `param` say which parameter a server refused)."""
    try:
        data: Any = json.loads(response.content)
    except ValueError:
        data = None
    body = data.get("error", data) if isinstance(data, dict) else data
    message = f"Error code: {response.status_code} - {data if data is not None else response.text}"
    status = response.status_code
    error = _STATUS_ERRORS.get(status) or (
        openai.InternalServerError if status >= 500 else openai.APIStatusError)
    return error(message, response=response, body=body)  # type: ignore[arg-type]


# The SDK's documented retry rules: statuses worth another try, and its backoff.
RETRY_STATUSES = frozenset({408, 409, 429})
INITIAL_RETRY_DELAY, MAX_RETRY_DELAY, MAX_RETRY_AFTER = 0.5, 8.0, 60.0


def should_retry(response: httpx2.Response) -> bool:
    header = response.headers.get("x-should-retry")
    if header in ("true", "false"):
        return header == "true"
    after = _retry_after(response.headers)
    if after is not None and after > MAX_RETRY_AFTER:
        return False
    return response.status_code in RETRY_STATUSES or response.status_code >= 500


def retry_delay(attempt: int, headers: httpx2.Headers | None = None) -> float:
    after = _retry_after(headers) if headers is not None else None
    if after is not None and 0 <= after <= MAX_RETRY_AFTER:
        return after
    return min(INITIAL_RETRY_DELAY * 2.0 ** attempt, MAX_RETRY_DELAY) * (1 - 0.25 * random.random())


def _retry_after(headers: httpx2.Headers) -> float | None:
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is not None:
            try:
                return float(value) * scale
            except ValueError:
                return None
    return None


def _stream_error(error: object) -> ProviderError:
    message = error.get("message", "") if isinstance(error, dict) else str(error)
    return ProviderError(
        gettext_noop("The model provider reported an error mid-reply. Please try again."),
        code="upstream_error", retryable=True, detail=str(message)[:500],
    )


def translate(exc: openai.APIError) -> ProviderError:
    """Turns an SDK exception into a reason a person can read."""
    detail = str(exc)[:500]
    if isinstance(exc, openai.RateLimitError):
        return ProviderError(
            gettext_noop("The model provider is rate-limiting requests. Please try again in a moment."),
            code="rate_limited", retryable=True, detail=detail,
        )
    if isinstance(exc, openai.APITimeoutError):
        return ProviderError(
            gettext_noop("The model provider did not answer in time."),
            code="timeout", retryable=True,
            detail=detail,
        )
    if isinstance(exc, openai.APIConnectionError):
        return ProviderError(
            gettext_noop("Could not reach the model provider."), code="unreachable", retryable=True,
            detail=detail,
        )
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return ProviderError(
            gettext_noop("The model provider refused the API key. An administrator needs to check it."),
            code="auth", detail=detail,
        )
    if isinstance(exc, openai.NotFoundError):
        return ProviderError(
            gettext_noop("The model provider does not know this bot's model."),
            code="model_not_found",
            detail=detail,
        )
    if isinstance(exc, openai.BadRequestError):
        return ProviderError(
            gettext_noop("The model provider rejected the request (it may be too long for the model)."),
            code="bad_request", detail=detail,
        )
    if isinstance(exc, openai.InternalServerError):
        return ProviderError(
            gettext_noop("The model provider had an internal error. Please try again."),
            code="upstream_error", retryable=True, detail=detail,
        )
    return ProviderError(
        gettext_noop("The model provider returned an error. Please try again."),
        code="upstream_error", retryable=True, detail=detail,
    )
