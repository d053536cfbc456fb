"""Messenger integrations in the admin: credentials are write-only (never rendered back), and
three actions talk to the platform: register webhook, test connection, rotate secret."""

from __future__ import annotations

import importlib
import logging
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .models import CREDENTIAL_KEYS, Integration, MessengerIdentity, new_webhook_secret
from .services.errors import integration_error_record_sync
from .transports.base import scrub

log = logging.getLogger(__name__)

# Form field name -> (platform, credential key), e.g. "telegram_token" -> ("telegram", "token").
CREDENTIAL_FIELDS = {f"{platform}_{key}": (platform, key)
                     for platform, keys in CREDENTIAL_KEYS.items() for key in keys}


def _secret_field(label: str) -> forms.CharField:
    return forms.CharField(
        label=label, required=False, strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("Write-only: leave empty to keep the stored value."),
    )


class _IntegrationFormBase(forms.ModelForm):
    clear_credentials = forms.BooleanField(label=_("Remove the stored credentials"),
                                           required=False)

    class Meta:
        model = Integration
        fields = ["platform", "name", "bot", "enabled"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        platform = data.get("platform")
        if platform and not data.get("clear_credentials"):
            stored = self.instance.credential_map() if self.instance.pk else {}
            for key in CREDENTIAL_KEYS.get(platform, ()):
                if not data.get(f"{platform}_{key}") and not stored.get(key):
                    self.add_error(f"{platform}_{key}", gettext("Required for this platform."))
        return data

    def save(self, commit: bool = True) -> Integration:
        integration = super().save(commit=False)
        if self.cleaned_data.get("clear_credentials"):
            integration.credentials = ""
        platform = self.cleaned_data["platform"]
        integration.set_credentials(**{
            key: self.cleaned_data.get(f"{platform}_{key}", "")
            for key in CREDENTIAL_KEYS.get(platform, ())
        })
        if commit:
            integration.save()
        return integration


# One write-only field per platform secret, declared on the class so the admin knows them.
IntegrationForm = type("IntegrationForm", (_IntegrationFormBase,), {
    name: _secret_field(f"{platform.capitalize()}: {key.replace('_', ' ')}")
    for name, (platform, key) in CREDENTIAL_FIELDS.items()
})


def setup_module(platform: str) -> Any:
    return importlib.import_module(f"integrations.{platform}.setup")


def _run(request: HttpRequest, queryset: QuerySet[Integration], what: str, call: Any) -> None:
    for integration in queryset:
        try:
            result = call(integration)
        except Exception as exc:  # the platform said no, or could not be reached
            text = scrub(str(exc), integration.secrets()) or type(exc).__name__
            integration_error_record_sync(integration.pk, f"{what}: {text}")
            messages.error(request, f"{integration}: {what}: {text}")
        else:
            messages.success(request, f"{integration}: {result}")


@admin.register(Integration)
class IntegrationAdmin(admin.ModelAdmin):
    form = IntegrationForm
    list_display = ("name", "platform", "bot", "enabled", "account_name", "credential_state",
                    "last_error_at")
    list_filter = ("platform", "enabled")
    search_fields = ("name", "account_name")
    list_select_related = ("bot",)
    readonly_fields = ("webhook_path", "credential_state", "account_name", "last_error",
                       "last_error_at", "created_at", "updated_at")
    actions = ["register_webhook", "test_connection", "rotate_secret"]

    def get_fieldsets(self, request: HttpRequest, obj: Integration | None = None) -> Any:
        secrets = tuple(CREDENTIAL_FIELDS) + ("clear_credentials",)
        fieldsets: list[Any] = [
            (None, {"fields": ("platform", "name", "bot", "enabled")}),
            (_("Credentials (write-only)"), {
                "fields": secrets,
                "description": _("Fill in the fields of the chosen platform only."),
            }),
        ]
        if obj is not None:
            fieldsets.append((_("State"), {"fields": self.readonly_fields}))
        return fieldsets

    @admin.display(description=_("credentials"))
    def credential_state(self, obj: Integration) -> str:
        stored = obj.credential_map()
        keys = CREDENTIAL_KEYS.get(obj.platform, ())
        missing = [k for k in keys if not stored.get(k)]
        if not missing:
            return str(_("set"))
        return gettext("missing: %(keys)s") % {"keys": ", ".join(missing)}

    @admin.display(description=_("webhook path"))
    def webhook_path(self, obj: Integration) -> str:
        return f"/integrations/{obj.platform}/{obj.pk}/"

    @admin.action(description=_("Register webhook (at SITE_URL)"))
    def register_webhook(self, request: HttpRequest, queryset: QuerySet[Integration]) -> None:
        _run(request, queryset, gettext("register webhook"), lambda i: setup_module(
            i.platform).register_webhook(i, settings.SITE_URL))

    @admin.action(description=_("Test connection"))
    def test_connection(self, request: HttpRequest, queryset: QuerySet[Integration]) -> None:
        _run(request, queryset, gettext("test connection"),
             lambda i: setup_module(i.platform).test_connection(i))

    @admin.action(description=_("Rotate webhook secret (and register the webhook again)"))
    def rotate_secret(self, request: HttpRequest, queryset: QuerySet[Integration]) -> None:
        def rotate(integration: Integration) -> str:
            integration.webhook_secret = new_webhook_secret()
            integration.save(update_fields=["webhook_secret", "updated_at"])
            module = setup_module(integration.platform)
            if getattr(module, "SECRET_IN_WEBHOOK", False):
                # The platform sends our secret back with every update: tell it the new one.
                return module.register_webhook(integration, settings.SITE_URL)
            return gettext("secret rotated")

        _run(request, queryset, gettext("rotate secret"), rotate)


@admin.register(MessengerIdentity)
class MessengerIdentityAdmin(admin.ModelAdmin):
    list_display = ("name", "platform", "external_id", "user", "linked_at")
    list_filter = ("platform",)
    search_fields = ("name", "external_id", "user__email")
    list_select_related = ("user",)
    readonly_fields = ("platform", "external_id", "name", "user", "linked_at", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
