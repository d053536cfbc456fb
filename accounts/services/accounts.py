from __future__ import annotations

from django.db import transaction

from accounts.models import User


@transaction.atomic
def account_delete(*, user: User) -> None:
    """Deletes the person and, by cascade, their conversations, messages and tokens."""
    User.objects.filter(pk=user.pk).delete()
