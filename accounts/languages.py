"""Which interface language a person gets: their saved choice when signed in, else the
language cookie the switcher sets, else the browser's Accept-Language, else the site default.

Shared by the pages (middleware), the set_language view and the chat socket, which has no
HttpRequest but the same cookie and headers in its scope.
"""

from __future__ import annotations

from http.cookies import SimpleCookie
from typing import Any

from django.conf import settings
from django.utils import translation
from django.utils.translation import trans_real


def supported(code: str | None) -> str | None:
    """The interface language for ``code`` ("zh-Hans" -> "zh-hans", "de-AT" -> "de"), or None."""
    if not code:
        return None
    try:
        return translation.get_supported_language_variant(code.strip().lower())
    except LookupError:
        return None


def user_language(user: Any) -> str | None:
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return supported(getattr(user, "language", ""))


def language_from_headers(cookie_header: str, accept_language: str) -> str:
    """Cookie, then Accept-Language, then the site default (what LocaleMiddleware does for a
    request without a language prefix in its path)."""
    cookies = SimpleCookie()
    try:
        cookies.load(cookie_header or "")
    except Exception:  # a malformed cookie header: ignore it, as Django does
        cookies = SimpleCookie()
    morsel = cookies.get(settings.LANGUAGE_COOKIE_NAME)
    if morsel is not None and (code := supported(morsel.value)):
        return code
    for accepted, _quality in trans_real.parse_accept_lang_header(accept_language or ""):
        if accepted != "*" and (code := supported(accepted)):
            return code
    return supported(settings.LANGUAGE_CODE) or "en"


def language_for_scope(scope: dict[str, Any], user: Any) -> str:
    """The chat socket's language: the signed-in person's choice, else their browser's."""
    if code := user_language(user):
        return code
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
    return language_from_headers(headers.get("cookie", ""), headers.get("accept-language", ""))
