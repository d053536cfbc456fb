from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from .roles import policy_for


class HasApiAccess(BasePermission):
    """Signed in (token or session), active, and the role includes API access."""

    message = "Your role does not include API access."
    code = "api_access_denied"

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if user is None or not user.is_authenticated or getattr(user, "is_guest", False):
            return False
        policy = policy_for(user)
        return policy is None or policy.api_access
