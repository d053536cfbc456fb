from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from . import catalog


class ImageModel(models.Model):
    """An image model people may ask for: a provider's model (or the built-in demo drawing),
    the sizes and qualities offered, and who may use it."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    slug = models.SlugField(_("slug"), max_length=60, unique=True,
                            help_text=_("How the API, the terminal client and messengers name it."))
    provider = models.ForeignKey(
        "conversations.Provider", on_delete=models.PROTECT, null=True, blank=True,
        related_name="image_models", verbose_name=_("provider"),
        help_text=_("Empty, or a demo provider: pictures drawn locally, offline."),
    )
    model = models.CharField(_("model"), max_length=200, default="demo",
                             help_text=_("e.g. gpt-image-1, dall-e-3, dall-e-2"))
    sizes = models.CharField(
        _("sizes"), max_length=300, blank=True,
        help_text=_("Comma-separated, first is the default; empty: the model's known sizes."),
    )
    qualities = models.CharField(
        _("qualities"), max_length=200, blank=True,
        help_text=_("Comma-separated, first is the default; empty: the model's known qualities."),
    )
    max_count = models.PositiveSmallIntegerField(
        _("most images per request"), default=4,
        help_text=_("Lowered to what the model accepts (DALL-E 3: one)."),
    )
    roles = models.ManyToManyField(
        "accounts.RolePolicy", blank=True, related_name="+", verbose_name=_("roles"),
        help_text=_("Empty: every role whose images-per-day allowance is not zero."),
    )
    bots = models.ManyToManyField(
        "conversations.Bot", blank=True, related_name="+", verbose_name=_("chat bots"),
        help_text=_("Conversations with these bots use this model for /image; empty: any bot."),
    )
    is_default = models.BooleanField(_("default"), default=False)
    is_active = models.BooleanField(_("active"), default=True)
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        ordering = ["-is_default", "position", "name"]
        verbose_name = _("image model")
        verbose_name_plural = _("image models")

    def __str__(self) -> str:
        return self.name

    @property
    def is_demo(self) -> bool:
        return self.provider_id is None or self.provider.kind == "demo"

    def size_choices(self) -> list[str]:
        own = [s.strip() for s in self.sizes.split(",") if s.strip()]
        return own or list(catalog.spec_for(self.model, demo=self.is_demo).sizes)

    def quality_choices(self) -> list[str]:
        own = [q.strip() for q in self.qualities.split(",") if q.strip()]
        return own or list(catalog.spec_for(self.model, demo=self.is_demo).qualities)

    def count_limit(self) -> int:
        spec = catalog.spec_for(self.model, demo=self.is_demo)
        return max(1, min(self.max_count, spec.max_count))


class ImageJob(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", _("queued")
        RUNNING = "running", _("running")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                              related_name="image_jobs")
    conversation = models.ForeignKey("conversations.Conversation", on_delete=models.SET_NULL,
                                     null=True, blank=True, related_name="image_jobs")
    image_model = models.ForeignKey(ImageModel, on_delete=models.SET_NULL, null=True, blank=True,
                                    related_name="jobs")
    provider = models.ForeignKey("conversations.Provider", on_delete=models.SET_NULL, null=True,
                                 blank=True, related_name="+")
    model = models.CharField(max_length=200)
    prompt = models.TextField()
    revised_prompt = models.TextField(blank=True)
    size = models.CharField(max_length=20)
    quality = models.CharField(max_length=20, blank=True)
    count = models.PositiveSmallIntegerField(default=1)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED,
                              db_index=True)
    progress = models.PositiveSmallIntegerField(default=0)  # percent, for progress bars
    error_code = models.CharField(max_length=40, blank=True)
    error = models.CharField(max_length=500, blank=True)
    channel = models.CharField(max_length=20, default="web")  # web, api, cli, telegram, ...
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["owner", "-created_at"], name="imgjob_owner_recent"),
            # The analytics rollup reads a day's jobs every few minutes.
            models.Index(fields=["created_at"], name="imgjob_time"),
        ]
        verbose_name = _("image job")
        verbose_name_plural = _("image jobs")

    def __str__(self) -> str:
        return self.prompt[:60]

    @property
    def is_active(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)

    @property
    def duration_ms(self) -> int | None:
        if self.started_at and self.finished_at:
            return int((self.finished_at - self.started_at).total_seconds() * 1000)
        return None


class GeneratedImage(models.Model):
    """One stored picture. `file` and `thumbnail` are names in the default storage, made by the
    server; they are only ever served through views that check the owner."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    job = models.ForeignKey(ImageJob, on_delete=models.CASCADE, related_name="images")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                              related_name="images")
    index = models.PositiveSmallIntegerField(default=0)
    file = models.CharField(max_length=300, unique=True)
    thumbnail = models.CharField(max_length=300, unique=True)
    content_type = models.CharField(max_length=50)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    bytes = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "index"]
        indexes = [models.Index(fields=["owner", "-created_at"], name="img_owner_recent")]
        verbose_name = _("image")
        verbose_name_plural = _("images")

    def __str__(self) -> str:
        return self.file

    @property
    def extension(self) -> str:
        return self.file.rsplit(".", 1)[-1]
