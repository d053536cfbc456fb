from __future__ import annotations

from typing import Any

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from .services.tokens import api_token_authenticate


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer chl_...` with a personal API token."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, None] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, raw = header.partition(" ")
        if scheme.lower() != "bearer":
            return None
        user = api_token_authenticate(raw.strip())
        if user is None:
            raise exceptions.AuthenticationFailed("The API token is invalid or revoked.")
        return user, None

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="chatlab"'


try:
    from drf_spectacular.extensions import OpenApiAuthenticationExtension

    class BearerTokenScheme(OpenApiAuthenticationExtension):
        target_class = "accounts.authentication.BearerTokenAuthentication"
        name = "apiToken"

        def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
            return {"type": "http", "scheme": "bearer",
                    "description": "A personal API token from the profile page (chl_...)."}
except ImportError:  # pragma: no cover - drf-spectacular is a dependency
    pass
