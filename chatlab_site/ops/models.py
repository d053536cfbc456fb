"""What the backup machinery records: the retention policy, each backup attempt, each drill.

The backups themselves live in the backup storage (the source of truth, listed by the admin
page); these rows are the history. A run is written once it has finished, so a backup never
contains a half-written record of itself.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _


class RetentionPolicy(models.Model):
    """One row (pk 1): how many backups to keep. The newest backup is always kept."""

    keep_daily = models.PositiveSmallIntegerField(
        _("daily backups kept"), default=7, validators=[MaxValueValidator(366)],
        help_text=_("The newest backup of each of the last N days that have one."))
    keep_weekly = models.PositiveSmallIntegerField(
        _("weekly backups kept"), default=4, validators=[MaxValueValidator(520)],
        help_text=_("The newest backup of each of the last M weeks that have one."))
    keep_monthly = models.PositiveSmallIntegerField(
        _("monthly backups kept"), default=6, validators=[MaxValueValidator(240)],
        help_text=_("The newest backup of each of the last K months that have one."))
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("backup retention policy")
        verbose_name_plural = _("backup retention policy")

    def __str__(self) -> str:
        return str(_("Keep %(d)s daily, %(w)s weekly, %(m)s monthly") % {
            "d": self.keep_daily, "w": self.keep_weekly, "m": self.keep_monthly})

    @classmethod
    def current(cls) -> RetentionPolicy:
        policy, _created = cls.objects.get_or_create(pk=1)
        return policy


class BackupRun(models.Model):
    class Status(models.TextChoices):
        OK = "ok", _("succeeded")
        FAILED = "failed", _("failed")

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", _("schedule")
        ADMIN = "admin", _("admin")
        COMMAND = "command", _("command line")

    name = models.CharField(_("backup"), max_length=120, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices)
    trigger = models.CharField(_("started by"), max_length=10, choices=Trigger.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+", verbose_name=_("requested by"))
    attempt = models.PositiveSmallIntegerField(_("attempt"), default=1)
    started_at = models.DateTimeField(_("started"))
    finished_at = models.DateTimeField(_("finished"))
    size = models.BigIntegerField(_("size (bytes)"), null=True, blank=True)
    pruned = models.PositiveIntegerField(_("old backups removed"), default=0)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        ordering = ["-started_at"]
        verbose_name = _("backup run")
        verbose_name_plural = _("backup runs")
        permissions = [("run_backup", _("Can start a backup"))]

    def __str__(self) -> str:
        return self.name or f"{self.get_status_display()} {self.started_at:%Y-%m-%d %H:%M}"


class DrillRun(models.Model):
    """A restore drill: the newest backup restored into a scratch database and checked."""

    class Status(models.TextChoices):
        OK = "ok", _("passed")
        FAILED = "failed", _("failed")

    backup_name = models.CharField(_("backup"), max_length=120, blank=True, db_index=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices)
    started_at = models.DateTimeField(_("started"))
    finished_at = models.DateTimeField(_("finished"))
    tables_checked = models.PositiveIntegerField(_("tables checked"), default=0)
    rows_checked = models.BigIntegerField(_("rows checked"), default=0)
    files_checked = models.PositiveIntegerField(_("files checked"), default=0)
    detail = models.TextField(_("detail"), blank=True)

    class Meta:
        ordering = ["-started_at"]
        verbose_name = _("restore drill")
        verbose_name_plural = _("restore drills")

    def __str__(self) -> str:
        return f"{self.backup_name or '-'}: {self.get_status_display()}"
