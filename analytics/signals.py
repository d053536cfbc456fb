"""Logins become usage events (queued: the login itself never waits on, or fails with, them)."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.utils import timezone

from .models import Kind
from .recorder import record_event
from .request_ids import current_request_id

log = logging.getLogger(__name__)


def login_method(path: str) -> str:
    if path.startswith("/admin/"):
        return "admin"
    if "/login/callback" in path:
        return "social"
    return "password"


@receiver(user_logged_in, dispatch_uid="chatlab-analytics-login")
def record_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    try:
        from accounts.roles import role_of

        record_event(kind=Kind.LOGIN, at=timezone.now(), user_id=user.pk, role=role_of(user),
                     channel="web", request_id=current_request_id(),
                     detail=login_method(getattr(request, "path", "") or ""))
    except Exception:
        log.warning("could not record the login of %s", getattr(user, "pk", None), exc_info=True)
