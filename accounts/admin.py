from django.contrib import admin
from django.contrib.admin.widgets import AdminBigIntegerFieldWidget
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db import models
from django.utils.translation import gettext_lazy as _

from .models import User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ("email",)
    list_display = ("email", "display_name", "is_staff", "is_active", "date_joined", "last_login")
    search_fields = ("email", "display_name")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Profile"), {"fields": ("display_name", "first_name", "last_name")}),
        (
            _("Permissions"),
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        (_("Dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)


from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin  # noqa: E402
from django.contrib.auth.models import Group  # noqa: E402

from .models import ApiToken, RolePolicy  # noqa: E402

# Room for a daily token allowance like 2,000,000 (the default integer input shows 5 digits).
WIDE_NUMBERS = {models.PositiveIntegerField: {"widget": AdminBigIntegerFieldWidget}}


class RolePolicyInline(admin.StackedInline):
    model = RolePolicy
    formfield_overrides = WIDE_NUMBERS
    can_delete = False
    filter_horizontal = ("bots",)
    extra = 0
    max_num = 1


admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(BaseGroupAdmin):
    inlines = [RolePolicyInline]
    list_display = ("name", "role")

    @admin.display(description=_("role"))
    def role(self, obj: Group) -> str:
        policy = getattr(obj, "policy", None)
        return policy.get_role_display() if policy else "—"


@admin.register(RolePolicy)
class RolePolicyAdmin(admin.ModelAdmin):
    list_display = ("role", "group", "messages_per_day", "tokens_per_day", "images_per_day",
                    "max_reply_tokens", "api_access", "all_bots")
    list_editable = ("messages_per_day", "tokens_per_day", "images_per_day", "max_reply_tokens",
                     "api_access", "all_bots")
    filter_horizontal = ("bots",)
    list_select_related = ("group",)
    formfield_overrides = WIDE_NUMBERS


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "prefix", "created_at", "last_used_at", "revoked_at")
    list_select_related = ("user",)
    search_fields = ("name", "user__email", "prefix")
    fields = ("user", "name", "prefix", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("user", "prefix", "created_at", "last_used_at")

    def has_add_permission(self, request, obj=None) -> bool:  # tokens are made by their owner
        return False
