from __future__ import annotations

from typing import Any

from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from modeltranslation.admin import TabbedTranslationAdmin
from modeltranslation.utils import build_localized_fieldname

from .models import Bot, Conversation, ImportJob, Message, Provider
from .providers import ProviderError
from .providers.catalog import provider_models


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


class BotForm(forms.ModelForm):
    fill_capabilities = forms.BooleanField(
        label=_("Set from the model name"), required=False,
        help_text=_("Replaces the capabilities and context window below with what Chatlab knows "
                    "of this model. Without it, they follow a new model name unless you edit "
                    "them too."),
    )

    class Meta:
        model = Bot
        fields = "__all__"

    def save(self, commit: bool = True) -> Bot:
        bot = super().save(commit=False)
        if self.cleaned_data.get("fill_capabilities"):
            bot.fill_capabilities()
        elif bot._state.adding or {"model", "provider"} & set(self.changed_data):
            # What the admin set in this same form stands.
            bot.fill_capabilities(keep=set(self.changed_data))
        if commit:
            bot.save()
            self.save_m2m()
        return bot


@admin.register(Bot)
class BotAdmin(TabbedTranslationAdmin):
    """Name, description, system prompt and welcome text in one tab per language."""

    form = BotForm
    change_list_template = "admin/conversations/bot/change_list.html"
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
        (_("Capabilities"), {"fields": ("fill_capabilities", "output_limit_param",
                                        "accepts_temperature", "reasoning_effort", "vision",
                                        "tools")}),
    )

    def get_urls(self) -> list[Any]:
        return [
            path("fetch-models/", self.admin_site.admin_view(self.fetch_models),
                 name="conversations_bot_fetch_models"),
        ] + super().get_urls()

    def fetch_models(self, request: HttpRequest) -> HttpResponse:
        """A provider's /v1/models, each a link to a new bot with its capabilities filled in."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        providers = Provider.objects.exclude(kind=Provider.Kind.DEMO)
        chosen = request.GET.get("provider", "")
        provider = providers.filter(pk=int(chosen)).first() if chosen.isdigit() else None
        choices, error = [], ""
        if provider is not None:
            try:
                listed = provider_models(provider)
            except ProviderError as exc:
                error = f"{_(exc.message)} ({exc.detail})" if exc.detail else str(_(exc.message))
            else:
                add = reverse("admin:conversations_bot_add")
                choices = [(choice, f"{add}?{urlencode(_prefill(provider, choice))}")
                           for choice in listed]
        context = {**self.admin_site.each_context(request), "opts": self.model._meta,
                   "title": _("Fetch models"), "providers": providers, "provider": provider,
                   "choices": choices, "error": error}
        return TemplateResponse(request, "admin/conversations/bot/fetch_models.html", context)


def _prefill(provider: Provider, choice: Any) -> dict[str, Any]:
    capabilities = choice.capabilities
    values: dict[str, Any] = {
        "provider": provider.pk, "model": choice.id,
        "output_limit_param": capabilities.output_limit_param,
        "reasoning_effort": capabilities.reasoning_effort,
    }
    # The add form's checkboxes: "on" ticks one, an empty value leaves it clear.
    values.update({name: "on" if getattr(capabilities, name) else ""
                   for name in ("accepts_temperature", "vision", "tools")})
    if capabilities.context_window:
        values["context_window"] = capabilities.context_window
    return values


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
