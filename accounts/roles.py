"""Who may do what: a person's role and the policy (quotas, bots, API) that comes with it."""

from __future__ import annotations

from typing import Any

from .models import Role, RolePolicy


def role_of(user: Any) -> str:
    """Read fresh on every call (one query), so a role changed in the admin applies at once."""
    if user is None or not user.is_authenticated:
        return Role.GUEST
    if user.is_superuser:
        return Role.ADMIN
    roles = set(RolePolicy.objects.filter(group__user=user).values_list("role", flat=True))
    return Role.ADMIN if Role.ADMIN in roles else Role.USER


def policy_for(user: Any) -> RolePolicy | None:
    return RolePolicy.objects.filter(role=role_of(user)).first()
