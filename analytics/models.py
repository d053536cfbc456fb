"""Usage analytics and the error log.

Replies and image jobs are read from their own rows (Message, ImageJob) by the daily rollup, so
a reply costs no write here; logins and errors leave a UsageEvent. The dashboard reads the two
daily tables, which stay small: one row per day and combination of dimensions, one per day and
active person.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

# Upper bounds (ms) of the latency histogram buckets kept per rollup row; the last bucket is
# everything slower. Percentiles over any range come from summing the buckets.
LATENCY_BOUNDS_MS = (100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 7500, 10000,
                     15000, 20000, 30000, 60000, 120000)


class Kind(models.TextChoices):
    REPLY = "reply", _("reply")
    IMAGE = "image", _("image job")
    LOGIN = "login", _("login")
    ERROR = "error", _("error")


class Outcome(models.TextChoices):
    OK = "ok", _("ok")
    FAILED = "failed", _("failed")
    CANCELLED = "cancelled", _("cancelled")


class ModelPrice(models.Model):
    """What a model costs, for the estimated cost on the dashboard (in the operator's currency)."""

    model = models.CharField(
        _("model"), max_length=200, unique=True,
        help_text=_("The model name as the provider reports it, e.g. gpt-4o-mini. End it with * "
                    "to price every model that starts with it (gpt-4o*)."),
    )
    input_per_million = models.DecimalField(
        _("input, per million tokens"), max_digits=12, decimal_places=4, default=Decimal(0),
        validators=[MinValueValidator(Decimal(0))])
    output_per_million = models.DecimalField(
        _("output, per million tokens"), max_digits=12, decimal_places=4, default=Decimal(0),
        validators=[MinValueValidator(Decimal(0))])
    per_image = models.DecimalField(
        _("per image"), max_digits=12, decimal_places=4, default=Decimal(0),
        validators=[MinValueValidator(Decimal(0))])
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["model"]
        verbose_name = _("model price")
        verbose_name_plural = _("model prices")

    def __str__(self) -> str:
        return self.model


class UsageEvent(models.Model):
    """A login or an error occurrence (replies and image jobs have rows of their own)."""

    kind = models.CharField(max_length=10, choices=Kind.choices)
    at = models.DateTimeField()
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                             blank=True, related_name="+")
    role = models.CharField(max_length=10, blank=True)
    channel = models.CharField(max_length=20, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    detail = models.CharField(max_length=200, blank=True)

    class Meta:
        indexes = [models.Index(fields=["at", "kind"], name="usage_event_time")]
        verbose_name = _("usage event")
        verbose_name_plural = _("usage events")


class DailyUsage(models.Model):
    """A day's events for one combination of kind, channel, bot, model, role, language, outcome."""

    day = models.DateField()
    kind = models.CharField(max_length=10, choices=Kind.choices)
    channel = models.CharField(max_length=20, blank=True)
    bot = models.CharField(max_length=100, blank=True)
    model = models.CharField(max_length=200, blank=True)
    role = models.CharField(max_length=10, blank=True)
    language = models.CharField(max_length=12, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.OK)
    events = models.PositiveIntegerField(default=0)
    prompt_tokens = models.PositiveBigIntegerField(default=0)
    completion_tokens = models.PositiveBigIntegerField(default=0)
    images = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=22, decimal_places=10, default=Decimal(0))

    class Meta:
        indexes = [models.Index(fields=["day", "kind"], name="daily_usage_day")]
        verbose_name = _("usage dashboard")
        verbose_name_plural = _("usage dashboard")
        permissions = [
            ("view_dashboard", _("Can view the analytics dashboard")),
            ("view_topic_examples", _("Can see the conversations behind popular topics")),
        ]


class DailyUserUsage(models.Model):
    """One person's day: what the top-users table, active users and their own page read."""

    day = models.DateField()
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="daily_usage")
    role = models.CharField(max_length=10, blank=True)
    replies = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    prompt_tokens = models.PositiveBigIntegerField(default=0)
    completion_tokens = models.PositiveBigIntegerField(default=0)
    images = models.PositiveIntegerField(default=0)
    logins = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=22, decimal_places=10, default=Decimal(0))

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "day"], name="daily_user_once")]
        indexes = [models.Index(fields=["day"], name="daily_user_day")]
        verbose_name = _("daily usage of a person")
        verbose_name_plural = _("daily usage of people")


class DailyLatency(models.Model):
    """A day's latency histograms for one kind: percentiles over any range sum the buckets
    (a few rows a day, so a year of them is one small read)."""

    day = models.DateField()
    kind = models.CharField(max_length=10, choices=Kind.choices)
    # Counts per bucket of LATENCY_BOUNDS_MS, plus one for anything slower.
    ttft = models.JSONField(default=list, blank=True)
    total = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "kind"], name="daily_latency_once")]


class RollupRun(models.Model):
    """When a day was last rolled up: the dashboard says how fresh its numbers are."""

    day = models.DateField(unique=True)
    finished_at = models.DateTimeField()


class ErrorEvent(models.Model):
    """Errors logged anywhere in the project, one row per fingerprint (where in the code, which
    exception, which log message), with how often and when."""

    fingerprint = models.CharField(max_length=64, unique=True)
    logger = models.CharField(_("logger"), max_length=200)
    level = models.CharField(_("level"), max_length=10)
    message = models.TextField(_("message"))
    exception = models.CharField(_("exception"), max_length=200, blank=True)
    location = models.CharField(_("where"), max_length=300, blank=True)
    traceback = models.TextField(_("traceback"), blank=True)
    count = models.PositiveBigIntegerField(_("count"), default=0)
    first_seen = models.DateTimeField(_("first seen"))
    last_seen = models.DateTimeField(_("last seen"))
    last_request_id = models.CharField(_("last request id"), max_length=64, blank=True)

    class Meta:
        ordering = ["-last_seen"]
        indexes = [models.Index(fields=["-last_seen"], name="error_last_seen")]
        verbose_name = _("error")
        verbose_name_plural = _("errors")

    def __str__(self) -> str:
        return self.message[:100]


class Topic(models.Model):
    """A popular topic of one period: its name, keywords and how many conversations it had."""

    period_start = models.DateField(_("from"))
    period_end = models.DateField(_("to"))
    label = models.CharField(_("topic"), max_length=200)
    keywords = models.CharField(_("keywords"), max_length=300, blank=True)
    language = models.CharField(_("language"), max_length=12, blank=True)
    conversations = models.PositiveIntegerField(_("conversations"), default=0)
    # The same topic's count in the period before (None: it is new).
    previous = models.PositiveIntegerField(_("previous period"), null=True, blank=True)
    named_by = models.CharField(_("named by"), max_length=200, blank=True)
    # A few of its conversations, shown only to those allowed to read them.
    examples = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-period_end", "-conversations"]
        indexes = [models.Index(fields=["period_end"], name="topic_period")]
        verbose_name = _("popular topic")
        verbose_name_plural = _("popular topics")

    def __str__(self) -> str:
        return self.label

    @property
    def trend(self) -> int | None:
        return None if self.previous is None else self.conversations - self.previous
