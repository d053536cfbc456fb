"""Every periodic task Chatlab runs, in one list: celery beat runs them in production, the web
process itself in the embedded mode (embedded_beat.py). The data migrations that first created
them stay as history; `manage.py setup_schedules` puts back any that is missing from this list,
and tests/chatlab_site/test_schedules.py checks that a migrated database holds exactly these.
An operator's edits in the admin (time, enabled) are never overwritten."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask


@dataclass(frozen=True)
class Schedule:
    name: str
    task: str
    every: tuple[int, str] | None = None  # (count, IntervalSchedule period)
    at: tuple[str, str] | None = None  # (crontab minute, hour), daily, UTC


SCHEDULES = (
    Schedule("Mark interrupted replies", "conversations.tasks.sweep_interrupted_replies",
             every=(60, IntervalSchedule.SECONDS)),
    Schedule("Fail interrupted image jobs", "imaging.tasks.sweep_image_jobs",
             every=(300, IntervalSchedule.SECONDS)),
    Schedule("Roll up usage analytics", "analytics.tasks.rollup_usage",
             every=(600, IntervalSchedule.SECONDS)),
    Schedule("Forget old messenger deliveries", "integrations.tasks.forget_deliveries",
             every=(1, IntervalSchedule.DAYS)),
    Schedule("Find popular topics", "analytics.tasks.find_topics", at=("23", "2")),
    Schedule("Backup (daily)", "chatlab_site.ops.tasks.backup_scheduled", at=("0", "3")),
    Schedule("Delete expired guests", "accounts.tasks.purge_guests", at=("17", "3")),
    Schedule("Empty expired trash", "conversations.tasks.empty_trash", at=("41", "3")),
    Schedule("Backup restore drill (daily)", "chatlab_site.ops.tasks.restore_drill",
             at=("30", "4")),
)


@transaction.atomic
def schedules_ensure() -> list[str]:
    """Creates the entries whose task has none; returns their names."""
    created = []
    for schedule in SCHEDULES:
        if PeriodicTask.objects.filter(task=schedule.task).exists():
            continue
        timing: dict[str, object] = {}
        if schedule.every:
            timing["interval"], _ = IntervalSchedule.objects.get_or_create(
                every=schedule.every[0], period=schedule.every[1])
        else:
            minute, hour = schedule.at
            timing["crontab"], _ = CrontabSchedule.objects.get_or_create(
                minute=minute, hour=hour, day_of_week="*", day_of_month="*",
                month_of_year="*", timezone="UTC")
        PeriodicTask.objects.create(name=schedule.name, task=schedule.task,
                                    queue="maintenance", **timing)
        created.append(schedule.name)
    return created
