"""Guests: visitors who try the default bot before signing up.

A guest is a User row flagged ``is_guest`` whose id lives in the visitor's session. It is never
logged in (``request.user`` stays anonymous, so sign-up and login work as usual); the chat uses it
as the owner of the session's conversations. Signing up or logging in moves those conversations
to the real account.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.db import transaction
from django.utils import timezone

from .models import User

SESSION_KEY = "chatlab_guest_id"


def guests_enabled() -> bool:
    return bool(settings.CHATLAB_GUEST_CHAT)


def guest_from_session(session: SessionBase | None) -> User | None:
    if session is None or not guests_enabled():
        return None
    guest_id = session.get(SESSION_KEY)
    if not guest_id:
        return None
    return User.objects.filter(pk=guest_id, is_guest=True, is_active=True).first()


def guest_create(session: SessionBase) -> User:
    guest = User.objects.create(
        email=f"guest-{secrets.token_hex(8)}@guest.invalid", is_guest=True
    )
    guest.set_unusable_password()
    guest.save(update_fields=["password"])
    session[SESSION_KEY] = guest.pk
    session.save()
    return guest


@transaction.atomic
def guest_adopt(*, user: User, session: SessionBase) -> int:
    """Moves the session's guest conversations to ``user``; returns how many moved."""
    from conversations.models import Conversation

    guest_id = session.pop(SESSION_KEY, None)
    if not guest_id or guest_id == user.pk:
        return 0
    moved = Conversation.objects.filter(owner_id=guest_id, owner__is_guest=True).update(owner=user)
    User.objects.filter(pk=guest_id, is_guest=True).delete()
    return moved


def guests_purge(*, older_than_days: int | None = None) -> int:
    """Deletes guests (and their conversations) older than the retention period."""
    days = older_than_days if older_than_days is not None else settings.CHATLAB_GUEST_RETENTION_DAYS
    cutoff = timezone.now() - timedelta(days=days)
    deleted, _ = User.objects.filter(is_guest=True, date_joined__lt=cutoff).delete()
    return deleted


def on_login(sender: Any, request: Any, user: User, **kwargs: Any) -> None:
    session = getattr(request, "session", None)
    if session is not None and not user.is_guest:
        guest_adopt(user=user, session=session)
