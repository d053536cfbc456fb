"""The default schedule: a daily backup at 03:00 UTC and a restore drill at 04:30 UTC, both on
the `maintenance` queue, and the retention policy's row. Run by the data migration (with its
historical models); the times are edited in the admin (Periodic tasks), like any beat task."""

from __future__ import annotations

from typing import Any

TASKS = (
    ("Backup (daily)", "chatlab_site.ops.tasks.backup_scheduled", "0", "3"),
    ("Backup restore drill (daily)", "chatlab_site.ops.tasks.restore_drill", "30", "4"),
)


def schedule_ensure(*, periodic_task: Any, crontab: Any, retention_policy: Any) -> None:
    """Creates what is missing; leaves what an operator changed alone."""
    for name, task, minute, hour in TASKS:
        if periodic_task.objects.filter(task=task).exists():
            continue
        schedule, _created = crontab.objects.get_or_create(
            minute=minute, hour=hour, day_of_week="*", day_of_month="*", month_of_year="*",
            timezone="UTC")
        periodic_task.objects.create(name=name, task=task, crontab=schedule, queue="maintenance",
                                     enabled=True)
    retention_policy.objects.get_or_create(pk=1)
