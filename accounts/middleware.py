from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation

from .languages import user_language


class UserLanguageMiddleware:
    """After authentication: a signed-in person's saved language replaces the one LocaleMiddleware
    picked from the cookie or the browser, and the cookie is brought in line with it, so the
    login page after a logout and the chat socket speak it too."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # Without a session cookie nobody is signed in: no session or user to read.
        signed_in = settings.SESSION_COOKIE_NAME in request.COOKIES
        chosen = user_language(getattr(request, "user", None)) if signed_in else None
        if chosen:
            translation.activate(chosen)
            request.LANGUAGE_CODE = chosen
        response = self.get_response(request)
        if signed_in and settings.LANGUAGE_COOKIE_NAME not in response.cookies:
            # Read again: the view may have just saved a new choice (set_language, login).
            chosen = user_language(getattr(request, "user", None))
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
