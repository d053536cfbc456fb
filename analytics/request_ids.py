"""A request id per entry point (HTTP request, WebSocket connection, Celery task), carried in a
context variable into every log line and from a request into the tasks it sends (a message
header), so one id follows a reply or a job across processes."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse

T = TypeVar("T")
HEADER = "X-Request-ID"
CELERY_HEADER = "chatlab_request_id"
# What a client may choose: short, printable, nothing that could forge a log line.
_SANE = re.compile(r"^[A-Za-z0-9._:\-]{6,64}$")

request_id_var: ContextVar[str] = ContextVar("chatlab_request_id", default="")


def new_request_id() -> str:
    return uuid.uuid4().hex


def accept_request_id(value: str | bytes | None) -> str:
    """The caller's id when it is sane, else a new one."""
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if value and _SANE.match(value):
        return value
    return new_request_id()


def current_request_id() -> str:
    return request_id_var.get()


@contextmanager
def request_id_scope(value: str | None = None) -> Iterator[str]:
    token = request_id_var.set(value or new_request_id())
    try:
        yield request_id_var.get()
    finally:
        request_id_var.reset(token)


class RequestIdMiddleware:
    """First in MIDDLEWARE: every log line of the request (and what it sends to Celery) carries
    the id, and the response tells it back."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if iscoroutinefunction(self):
            return self._acall(request)
        token = self._start(request)
        try:
            response = self.get_response(request)
            response[HEADER] = request.request_id  # type: ignore[attr-defined]
            return response
        finally:
            request_id_var.reset(token)

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        token = self._start(request)
        try:
            response = await self.get_response(request)
            response[HEADER] = request.request_id  # type: ignore[attr-defined]
            return response
        finally:
            request_id_var.reset(token)

    @staticmethod
    def _start(request: HttpRequest) -> Any:
        rid = accept_request_id(request.headers.get(HEADER))
        request.request_id = rid  # type: ignore[attr-defined]
        return request_id_var.set(rid)


class RequestIdASGIMiddleware:
    """Wraps the WebSocket router: the connection's id is set before the consumer runs, so its
    handlers and the replies it starts (tasks copy the context) log with it."""

    def __init__(self, inner: Callable[..., Awaitable[None]]) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        given = dict(scope.get("headers") or []).get(HEADER.lower().encode())
        token = request_id_var.set(accept_request_id(given))
        try:
            await self.inner(scope, receive, send)
        finally:
            request_id_var.reset(token)


def carrying_request_id(coro: Coroutine[Any, Any, T]) -> Coroutine[Any, Any, T]:
    """The coroutine, set to run with the caller's request id: for a coroutine handed to
    another thread's loop, whose tasks do not copy the caller's context."""
    return _with_request_id(coro, request_id_var.get())


async def _with_request_id(coro: Coroutine[Any, Any, T], rid: str) -> T:
    request_id_var.set(rid)  # in this task's own context only
    return await coro


def connect_celery_signals() -> None:
    """Sending a task puts the current id in a message header; running it sets the id from
    the header (or a new one, for beat's scheduled tasks)."""
    from celery import signals

    signals.before_task_publish.connect(_publish, weak=False, dispatch_uid="chatlab-rid-pub")
    signals.task_prerun.connect(_prerun, weak=False, dispatch_uid="chatlab-rid-pre")
    signals.task_postrun.connect(_postrun, weak=False, dispatch_uid="chatlab-rid-post")


_task_tokens: dict[str, Any] = {}


def _publish(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    rid = request_id_var.get()
    if rid and headers is not None:
        headers.setdefault(CELERY_HEADER, rid)


def _header_of(task: Any) -> str | None:
    request = getattr(task, "request", None)
    if request is None:
        return None
    value = getattr(request, CELERY_HEADER, None)
    if value is None:
        value = (getattr(request, "headers", None) or {}).get(CELERY_HEADER)
    return value


def _prerun(task_id: str | None = None, task: Any = None, **kwargs: Any) -> None:
    if task_id is None:
        return
    given = _header_of(task)
    # An eager task runs inside its sender: it keeps the sender's id.
    rid = accept_request_id(given) if given else (request_id_var.get() or new_request_id())
    _task_tokens[task_id] = request_id_var.set(rid)


def _postrun(task_id: str | None = None, **kwargs: Any) -> None:
    token = _task_tokens.pop(task_id or "", None)
    if token is not None:
        try:
            request_id_var.reset(token)
        except ValueError:  # set in another context (a thread pool's): nothing to undo there
            request_id_var.set("")
