"""Who may do what: a person's role and the policy (quotas, bots, API) that comes with it."""

from __future__ import annotations

from typing import Any

from .models import Role, RolePolicy


def role_of(user: Any) -> str:
    """Read fresh on every call (one query), so a role changed in the admin applies at once."""
    known = role_of_without_groups(user)
    if known is not None:
        return known
    roles = set(RolePolicy.objects.filter(group__user=user).values_list("role", flat=True))
    return Role.ADMIN if Role.ADMIN in roles else Role.USER


def policy_for(user: Any) -> RolePolicy | None:
    return RolePolicy.objects.filter(role=role_of(user)).first()


def policies_for(users: list[Any]) -> dict[Any, RolePolicy | None]:
    """policy_for for many people at once, in two queries (for a batch of sends)."""
    policies = {p.role: p for p in RolePolicy.objects.all()}
    members = [u.pk for u in users if role_of_without_groups(u) is None]
    admins = set(
        RolePolicy.objects.filter(group__user__in=members, role=Role.ADMIN)
        .values_list("group__user", flat=True)
    ) if members else set()
    found: dict[Any, RolePolicy | None] = {}
    for user in users:
        role = role_of_without_groups(user) or (Role.ADMIN if user.pk in admins else Role.USER)
        found[user.pk] = policies.get(role)
    return found


def role_of_without_groups(user: Any) -> str | None:
    """The role when it does not depend on group membership, else None."""
    if user is None or not user.is_authenticated or getattr(user, "is_guest", False):
        return Role.GUEST
    if user.is_superuser:
        return Role.ADMIN
    return None


DEFAULT_LIMITS: dict[str, dict[str, Any]] = {
    Role.GUEST: {"messages_per_day": 10, "tokens_per_day": 20_000, "images_per_day": 0,
                 "max_reply_tokens": 1024, "api_access": False},
    Role.USER: {"messages_per_day": 500, "tokens_per_day": 2_000_000, "images_per_day": 50,
                "max_reply_tokens": None, "api_access": True},
    Role.ADMIN: {"messages_per_day": None, "tokens_per_day": None, "images_per_day": None,
                 "max_reply_tokens": None, "api_access": True},
}


def ensure_default_roles() -> None:
    """Creates any missing role with its starting limits; existing ones are left as edited."""
    from django.contrib.auth.models import Group

    for role, limits in DEFAULT_LIMITS.items():
        if not RolePolicy.objects.filter(role=role).exists():
            group, _ = Group.objects.get_or_create(name=str(role).capitalize())
            RolePolicy.objects.create(role=role, group=group, **limits)
