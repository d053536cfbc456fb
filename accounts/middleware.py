from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation

from .languages import user_language


class UserLanguageMiddleware:
    """After authentication: a signed-in person's saved language replaces the one LocaleMiddleware
    picked from the cookie or the browser, and the cookie is brought in line with it, so the
    login page after a logout and the chat socket speak it too.

    Async-capable: under ASGI the streaming views (SSE, /v1) stay on the event loop."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        # Without a session cookie nobody is signed in: no session or user to read.
        user = request.user if _may_be_signed_in(request) else None
        chosen = _activate(request, user)
        return _align_cookie(request, self.get_response(request), user, chosen)

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        user = None
        if _may_be_signed_in(request):
            user = await request.auser()
            # request.user (sync views) keeps its own cache: share this one, or it reads again.
            request._cached_user = user  # type: ignore[attr-defined]
        chosen = _activate(request, user)
        response = await self.get_response(request)  # type: ignore[misc]
        return _align_cookie(request, response, user, chosen)


def _may_be_signed_in(request: HttpRequest) -> bool:
    return settings.SESSION_COOKIE_NAME in request.COOKIES


def _activate(request: HttpRequest, user: Any) -> str | None:
    chosen = user_language(user)
    if chosen:
        translation.activate(chosen)
        request.LANGUAGE_CODE = chosen
    return chosen


def _align_cookie(request: HttpRequest, response: HttpResponse, user: Any,
                  chosen: str | None) -> HttpResponse:
    # The view may have set it (set_language); then that choice stands. user_language is read
    # again: set_language updates the same user object when it saves a new choice.
    if settings.LANGUAGE_COOKIE_NAME in response.cookies:
        return response
    chosen = user_language(user) or chosen
    if chosen and request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME) != chosen:
        set_language_cookie(response, chosen)
    return response


def set_language_cookie(response: HttpResponse, code: str) -> None:
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME, code,
        max_age=settings.LANGUAGE_COOKIE_AGE, path=settings.LANGUAGE_COOKIE_PATH,
        domain=settings.LANGUAGE_COOKIE_DOMAIN, secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY, samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )
