from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from .models import RolePolicy
from .roles import policy_for


def api_access_allowed(user: Any, policy: RolePolicy | None) -> bool:
    """The one rule for every API door (REST, SSE, the OpenAI-compatible endpoint)."""
    return not getattr(user, "is_guest", False) and (policy is None or policy.api_access)


class HasApiAccess(BasePermission):
    """Signed in (token or session), active, and the role includes API access."""

    message = "Your role does not include API access."
    code = "api_access_denied"

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if user is None or not user.is_authenticated:
            return False
        return api_access_allowed(user, policy_for(user))
