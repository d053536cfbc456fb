from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Any

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from chatlab_site.fields import EncryptedTextField

from .providers.capabilities import REASONING_EFFORTS, capabilities_for, provider_kind


class Provider(models.Model):
    """An OpenAI-compatible endpoint (OpenAI, Azure OpenAI, Ollama, vLLM, LM Studio, ...)."""

    class Kind(models.TextChoices):
        OPENAI = "openai", _("OpenAI-compatible API")
        DEMO = "demo", _("Built-in demo (offline)")

    name = models.CharField(_("name"), max_length=100, unique=True)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices, default=Kind.OPENAI)
    base_url = models.URLField(
        _("base URL"),
        blank=True,
        help_text=_("Leave empty for api.openai.com; e.g. http://localhost:11434/v1 for Ollama."),
    )
    api_key = EncryptedTextField(_("API key"), blank=True)
    timeout = models.FloatField(
        _("timeout (seconds)"),
        default=60.0,
        validators=[MinValueValidator(1.0), MaxValueValidator(600.0)],
        help_text=_("How long to wait for the first byte and between bytes of a reply."),
    )
    max_retries = models.PositiveSmallIntegerField(
        _("retries"),
        default=2,
        validators=[MaxValueValidator(5)],
        help_text=_("Attempts after the first on a rate limit, a 5xx or a timeout."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("provider")
        verbose_name_plural = _("providers")

    def __str__(self) -> str:
        return self.name


class BotQuerySet(models.QuerySet["Bot"]):
    def active(self) -> BotQuerySet:
        return self.filter(is_active=True, provider__is_active=True)


class Bot(models.Model):
    """A model behind a provider plus the system prompt that gives it its character."""

    name = models.CharField(_("name"), max_length=100)
    slug = models.SlugField(_("slug"), max_length=60, unique=True)
    description = models.CharField(_("description"), max_length=300, blank=True)
    system_prompt = models.TextField(_("system prompt"), blank=True)
    welcome = models.TextField(
        _("welcome text"), blank=True,
        help_text=_("Shown above an empty conversation with this bot."),
    )
    provider = models.ForeignKey(
        Provider, on_delete=models.PROTECT, related_name="bots", verbose_name=_("provider")
    )
    model = models.CharField(_("model"), max_length=200)
    temperature = models.FloatField(
        _("temperature"), default=0.7, validators=[MinValueValidator(0.0), MaxValueValidator(2.0)]
    )
    max_output_tokens = models.PositiveIntegerField(
        _("max output tokens"), default=1024, validators=[MinValueValidator(16)]
    )
    context_window = models.PositiveIntegerField(
        _("context window (tokens)"), default=8192, validators=[MinValueValidator(256)]
    )
    # What the model accepts (providers.capabilities): filled from the model name when empty,
    # editable in the admin, corrected by the provider layer when a server refuses a parameter.
    output_limit_param = models.CharField(
        _("output limit parameter"), max_length=24, blank=True,
        choices=[("", _("from the model name")),
                 ("max_completion_tokens", "max_completion_tokens (OpenAI, Azure OpenAI)"),
                 ("max_tokens", "max_tokens (Ollama, vLLM, LM Studio, llama.cpp)")],
    )
    accepts_temperature = models.BooleanField(
        _("accepts temperature"), default=True,
        help_text=_("Off for reasoning models, which take only the default temperature."),
    )
    reasoning_effort = models.CharField(
        _("reasoning effort"), max_length=8, blank=True,
        choices=[("", _("not sent")), *((e, e) for e in REASONING_EFFORTS)],
    )
    vision = models.BooleanField(_("accepts images"), default=False)
    tools = models.BooleanField(_("can call tools"), default=False)
    is_default = models.BooleanField(_("default"), default=False)
    is_active = models.BooleanField(_("active"), default=True)
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = BotQuerySet.as_manager()

    class Meta:
        ordering = ["position", "name"]
        verbose_name = _("bot")
        verbose_name_plural = _("bots")
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=Q(is_default=True), name="one_default_bot"
            )
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self.output_limit_param and kwargs.get("update_fields") is None:
            # A bot made in code (seed_bots, the shell) gets what its model accepts; the window
            # stays as given, since context planning relies on it.
            self.fill_capabilities(keep={"context_window"})
        # modeltranslation stores the active language's text in the plain columns (name, ...):
        # keep the default language's there whatever language the admin works in, so code
        # that reads the column itself (analytics' breakdown by bot) sees one stable name.
        with translation.override(settings.MODELTRANSLATION_DEFAULT_LANGUAGE):
            super().save(*args, **kwargs)


    CAPABILITY_FIELDS = ("output_limit_param", "accepts_temperature", "reasoning_effort",
                         "vision", "tools", "context_window")

    def fill_capabilities(self, *, keep: Collection[str] = ()) -> None:
        """Sets what the model accepts from its name and provider (the window only if known),
        except the fields in keep."""
        known = capabilities_for(self.model, provider_kind(self.provider.kind,
                                                           self.provider.base_url))
        for name in self.CAPABILITY_FIELDS:
            value = getattr(known, name)
            if name not in keep and value is not None:
                setattr(self, name, value)


class Channel(models.TextChoices):
    """Where a conversation was started: analytics break usage down by it."""

    WEB = "web", _("web")
    API = "api", _("REST API")
    OPENAI = "openai", _("OpenAI-compatible endpoint")
    TELEGRAM = "telegram", _("Telegram")
    DISCORD = "discord", _("Discord")
    SLACK = "slack", _("Slack")
    IMPORT = "import", _("import")


class Conversation(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations"
    )
    bot = models.ForeignKey(Bot, on_delete=models.PROTECT, related_name="conversations")
    title = models.CharField(_("title"), max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Bumped when a message is sent, so the list shows the latest conversations first.
    updated_at = models.DateTimeField(auto_now_add=True, db_index=False)
    # Shown first in the list while set.
    pinned_at = models.DateTimeField(_("pinned"), null=True, blank=True)
    # Left out of the sidebar while set; still found by search and still open to continue.
    archived_at = models.DateTimeField(_("archived"), null=True, blank=True)
    # In the trash while set: hidden everywhere but the trash page, emptied after
    # CHATLAB_TRASH_RETENTION_DAYS.
    deleted_at = models.DateTimeField(_("moved to trash"), null=True, blank=True)
    # A rolling summary of the turns up to summary_through (a message's created_at), which the
    # context sends in place of those turns once they no longer fit the bot's window.
    summary = models.TextField(_("summary of older turns"), blank=True)
    summary_through = models.DateTimeField(null=True, blank=True)
    # The language of its latest user message (services.language): replies, titles and
    # summaries are written in it, and short messages that do not tell fall back to it.
    language = models.CharField(_("language"), max_length=12, blank=True)
    channel = models.CharField(_("channel"), max_length=12, choices=Channel.choices,
                               default=Channel.WEB)

    class Meta:
        ordering = ["-updated_at"]
        indexes = [
            models.Index(fields=["owner", "-updated_at"], name="conv_owner_recent"),
            models.Index(fields=["deleted_at"], condition=Q(deleted_at__isnull=False),
                         name="conv_trashed"),
        ]
        verbose_name = _("conversation")
        verbose_name_plural = _("conversations")

    def __str__(self) -> str:
        return self.title or str(_("New chat"))


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user", _("user")
        ASSISTANT = "assistant", _("assistant")

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        STREAMING = "streaming", _("streaming")
        COMPLETE = "complete", _("complete")
        FAILED = "failed", _("failed")
        CANCELLED = "cancelled", _("cancelled")

    ACTIVE = (Status.PENDING, Status.STREAMING)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    role = models.CharField(max_length=10, choices=Role.choices)
    content = models.TextField(blank=True)
    # What a reasoning model thought before answering: shown apart, never sent back to it.
    # In columns of their own (not in `parts`) because every reply that has it writes it in
    # the same update as its text, and context and search read `content` alone.
    reasoning = models.TextField(_("reasoning"), blank=True)
    # From the first reasoning delta to the first answer token (the "Thought for N s").
    reasoning_ms = models.PositiveIntegerField(null=True, blank=True)
    # Parts besides text and reasoning (attachments, tool steps, sources), in order, each a
    # {"kind": ..., ...} dict; written with the text, never in writes of their own.
    parts = models.JSONField(default=list, blank=True)
    # A user message's detected language (services.language); empty on replies.
    language = models.CharField(_("language"), max_length=12, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.COMPLETE)
    error = models.CharField(max_length=500, blank=True)
    # The user message an assistant message answers; regenerating adds a new reply to it.
    reply_to = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="replies"
    )
    # Chosen by the client so that a retried send is stored once.
    client_id = models.UUIDField(null=True, blank=True, unique=True)
    superseded_at = models.DateTimeField(null=True, blank=True)
    # The message this one is a newer version of (an edited user message); the old one is kept,
    # superseded, as a previous version. Regenerated replies share reply_to instead.
    replaces = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="newer_versions"
    )
    model = models.CharField(max_length=200, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    # Of completion_tokens, those spent reasoning (OpenAI counts them in completion_tokens).
    reasoning_tokens = models.PositiveIntegerField(null=True, blank=True)
    ttft_ms = models.PositiveIntegerField(_("time to first token (ms)"), null=True, blank=True)
    total_ms = models.PositiveIntegerField(_("total time (ms)"), null=True, blank=True)
    # Brought in from an export: history, not usage (today's quota counts none of it, however
    # recent its times).
    imported = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [
            models.Index(fields=["conversation", "created_at"], name="msg_conv_time"),
            models.Index(
                fields=["updated_at"],
                condition=Q(status__in=["pending", "streaming"]),
                name="msg_active",
            ),
            # The analytics rollup reads a day's replies every few minutes.
            models.Index(fields=["created_at"], condition=Q(role="assistant"),
                         name="msg_reply_time"),
        ]
        verbose_name = _("message")
        verbose_name_plural = _("messages")

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:60]}"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE


class ImportJob(models.Model):
    """One uploaded history file being read into conversations, with its progress."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("queued")
        RUNNING = "running", _("running")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="import_jobs"
    )
    file = models.FileField(upload_to="imports/", blank=True)
    filename = models.CharField(max_length=255, blank=True)
    size = models.PositiveBigIntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    format = models.CharField(max_length=20, blank=True)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    imported = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("import")
        verbose_name_plural = _("imports")

    def __str__(self) -> str:
        return f"{self.filename} ({self.status})"
