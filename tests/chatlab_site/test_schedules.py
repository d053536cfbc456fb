"""chatlab_site/ops/schedules.py is the one list of periodic tasks: a migrated database holds
exactly those, and setup_schedules puts back one that was deleted without touching edits."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from chatlab_site.ops.schedules import SCHEDULES

pytestmark = pytest.mark.django_db


def _timing(task: PeriodicTask) -> tuple:
    if task.interval:
        return ("every", task.interval.every, task.interval.period)
    return ("at", task.crontab.minute, task.crontab.hour, task.crontab.day_of_week,
            task.crontab.day_of_month, task.crontab.month_of_year, str(task.crontab.timezone))


def _listed(schedule) -> tuple:
    if schedule.every:
        return ("every", *schedule.every)
    return ("at", *schedule.at, "*", "*", "*", "UTC")


def test_the_migrations_create_exactly_the_listed_schedules():
    # pytest-django's database is migrated, data migrations included; a new schedule made by a
    # migration and not listed (or the reverse) fails here.
    made = {t.task: (t.name, _timing(t), t.queue)
            for t in PeriodicTask.objects.exclude(task__startswith="celery.")}
    assert made == {s.task: (s.name, _listed(s), "maintenance") for s in SCHEDULES}


def test_setup_schedules_puts_back_what_is_missing_and_keeps_edits():
    PeriodicTask.objects.filter(task="chatlab_site.ops.tasks.restore_drill").delete()
    edited = PeriodicTask.objects.get(task="analytics.tasks.rollup_usage")
    edited.enabled = False
    edited.save()
    out = io.StringIO()
    call_command("setup_schedules", stdout=out)
    assert "created: Backup restore drill (daily)" in out.getvalue()
    assert PeriodicTask.objects.filter(task="chatlab_site.ops.tasks.restore_drill").exists()
    assert not PeriodicTask.objects.get(task="analytics.tasks.rollup_usage").enabled
    out = io.StringIO()
    call_command("setup_schedules", stdout=out)
    assert f"{len(SCHEDULES)} schedules, 0 created." in out.getvalue()
