from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _

from .dashboard import dashboard_view
from .models import DailyUsage, ErrorEvent, ModelPrice, Topic


def may_see_dashboard(user: Any) -> bool:
    """Superusers, the admin role, and anyone given 'Can view the analytics dashboard'."""
    from accounts.models import Role
    from accounts.roles import role_of

    if not user.is_active:
        return False
    if user.has_perm("analytics.view_dashboard"):
        return True
    # Asked for every model list the admin draws: the role is read once per request's user.
    if not hasattr(user, "_analytics_admin_role"):
        user._analytics_admin_role = role_of(user) == Role.ADMIN
    return user._analytics_admin_role


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(DailyUsage)
class DashboardAdmin(_ReadOnly):
    """'Usage dashboard' in the admin's list: its page is the dashboard, not a list of rows."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return may_see_dashboard(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return may_see_dashboard(request.user)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None
                        ) -> HttpResponse:
        if not self.has_view_permission(request):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        context = {**self.admin_site.each_context(request), "opts": self.model._meta,
                   **(extra_context or {})}
        return dashboard_view(request, context)


@admin.register(ModelPrice)
class ModelPriceAdmin(admin.ModelAdmin):
    list_display = ("model", "input_per_million", "output_per_million", "per_image", "updated_at")
    search_fields = ("model",)


@admin.register(ErrorEvent)
class ErrorEventAdmin(_ReadOnly):
    list_display = ("message_start", "logger", "exception", "count", "first_seen", "last_seen")
    list_filter = ("level", "logger")
    search_fields = ("message", "exception", "location", "last_request_id", "fingerprint")
    date_hierarchy = "last_seen"
    readonly_fields = ("message", "logger", "level", "exception", "location", "count",
                       "first_seen", "last_seen", "last_request_id", "fingerprint", "traceback")
    fields = readonly_fields

    @admin.display(description=_("message"))
    def message_start(self, obj: ErrorEvent) -> str:
        return obj.message[:120]


@admin.register(Topic)
class TopicAdmin(_ReadOnly):
    list_display = ("label", "keywords", "language", "conversations", "previous",
                    "period_start", "period_end", "named_by")
    list_filter = ("period_end", "language")
    # The conversations behind a topic are listed on the dashboard, to those allowed.
    exclude = ("examples",)
