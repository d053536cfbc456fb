"""The language switcher's target: Django's set_language (cookie, redirect back to a safe
``next``), plus saving the choice on the signed-in person's profile."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_POST
from django.views.i18n import set_language as django_set_language

from .languages import supported
from .models import User


@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    response = django_set_language(request)
    code = supported(request.POST.get("language"))
    user = request.user
    if code and user.is_authenticated and not getattr(user, "is_guest", False):
        user_language_save(user=user, language=code)  # type: ignore[arg-type]
    return response


def user_language_save(*, user: User, language: str) -> None:
    if user.language != language:
        User.objects.filter(pk=user.pk).update(language=language)
        user.language = language


def remember_visitor_language(sender: Any, request: HttpRequest, user: User, **kwargs: Any) -> None:
    """At login (and sign-up): a person with no saved language keeps the one they picked as a
    visitor, so the switch they made on the login page sticks to their account."""
    if user.language or request is None:
        return
    from django.conf import settings

    if code := supported(request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)):
        user_language_save(user=user, language=code)
