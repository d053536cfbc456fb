"""The admin site: open to the admin role (a group), with a rate-limited login."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.http import HttpRequest, HttpResponse

from accounts.ratelimit import RateLimited, hit


class ChatlabAdminSite(admin.AdminSite):
    site_header = "Chatlab administration"
    site_title = "Chatlab admin"
    index_title = "Operations"

    def has_permission(self, request: HttpRequest) -> bool:
        from accounts.models import Role
        from accounts.roles import role_of

        user = request.user
        return bool(user.is_active and (user.is_staff or role_of(user) == Role.ADMIN))

    def login(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        # allauth's rate limits guard its own forms, not this one.
        if request.method == "POST":
            try:
                hit(request, "admin-login", limit=10, period=300,
                    key=request.POST.get("username", "").lower())
            except RateLimited as exc:
                response = HttpResponse(
                    "Too many login attempts. Try again in a few minutes.", status=429,
                    content_type="text/plain",
                )
                response["Retry-After"] = str(exc.retry_after)
                return response
        return super().login(request, extra_context)


class ChatlabAdminConfig(AdminConfig):
    default_site = "chatlab_site.admin.ChatlabAdminSite"
