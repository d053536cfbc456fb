from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from modeltranslation.admin import TabbedTranslationAdmin
from modeltranslation.utils import build_localized_fieldname

from .models import Bot, Conversation, ImportJob, Message, Provider


class ProviderForm(forms.ModelForm):
    # The key is write-only: the form never renders the stored value back into the page.
    api_key = forms.CharField(
        label=_("API key"),
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("Leave empty to keep the current key."),
    )
    clear_api_key = forms.BooleanField(label=_("Remove the stored key"), required=False)

    class Meta:
        model = Provider
        fields = ["name", "kind", "base_url", "api_key", "timeout", "max_retries", "is_active"]

    def save(self, commit: bool = True) -> Provider:
        provider = super().save(commit=False)
        new_key = self.cleaned_data.get("api_key")
        if self.cleaned_data.get("clear_api_key"):
            provider.api_key = ""
        elif not new_key and self.instance.pk:
            provider.api_key = Provider.objects.get(pk=self.instance.pk).api_key
        if commit:
            provider.save()
        return provider


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    form = ProviderForm
    list_display = ("name", "kind", "base_url", "key_state", "timeout", "is_active")
    list_filter = ("kind", "is_active")
    search_fields = ("name", "base_url")

    @admin.display(description=_("API key"))
    def key_state(self, obj: Provider) -> str:
        return str(_("set")) if obj.api_key else str(_("not set"))


@admin.register(Bot)
class BotAdmin(TabbedTranslationAdmin):
    """Name, description, system prompt and welcome text in one tab per language."""

    list_display = ("name", "slug", "provider", "model", "is_default", "is_active", "position")
    list_editable = ("is_active", "position")
    list_filter = ("is_active", "provider")
    # A bot is found by its name or description in any language.
    search_fields = ("slug", "model", *(
        build_localized_fieldname(field, code)
        for field in ("name", "description") for code, _name in settings.LANGUAGES
    ))
    prepopulated_fields = {"slug": ("name",)}
    list_select_related = ("provider",)
    fieldsets = (
        (None, {"fields": ("name", "slug", "description", "is_active", "is_default", "position")}),
        (_("Model"), {"fields": ("provider", "model", "system_prompt", "welcome")}),
        (_("Limits"), {"fields": ("temperature", "max_output_tokens", "context_window")}),
    )


class MessageInline(admin.TabularInline):
    model = Message
    fields = ("role", "status", "content", "error", "completion_tokens", "ttft_ms", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ("title", "owner", "bot", "channel", "created_at", "updated_at")
    list_select_related = ("owner", "bot")
    search_fields = ("title", "owner__email")
    list_filter = ("bot", "channel")
    raw_id_fields = ("owner",)
    inlines = [MessageInline]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("id", "conversation", "role", "status", "model", "completion_tokens",
                    "ttft_ms", "total_ms", "created_at")
    list_filter = ("status", "role")
    list_select_related = ("conversation",)
    raw_id_fields = ("conversation", "reply_to")
    readonly_fields = ("client_id", "created_at", "updated_at")
    search_fields = ("id",)


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    """History imports, to see what people brought in and why one failed. Read-only: a job is
    started from the person's import page or the API, never from here."""

    list_display = ("filename", "owner", "format", "status", "done", "total", "imported",
                    "skipped", "error", "created_at")
    list_filter = ("status", "format")
    list_select_related = ("owner",)
    search_fields = ("filename", "owner__email")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
