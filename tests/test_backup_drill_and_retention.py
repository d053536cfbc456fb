"""The restore drill (passing, and failing as a logged error the admin shows), the retention
policy (which backups it keeps, and that it deletes the rest from the storage), and the schedule
the data migration sets up."""

from __future__ import annotations

import importlib
import logging
from datetime import UTC, datetime, timedelta

import pytest
from django.apps import apps as django_apps
from django_celery_beat.models import PeriodicTask

from chatlab_site.celery import app
from chatlab_site.ops.backups.create import backup_create
from chatlab_site.ops.backups.drill import drill_run
from chatlab_site.ops.backups.manifest import manifest_dump
from chatlab_site.ops.backups.naming import MANIFEST_SUFFIX, backup_name, name_time
from chatlab_site.ops.backups.retention import retention_apply, retention_keep
from chatlab_site.ops.backups.storage import backup_names
from chatlab_site.ops.models import DrillRun, RetentionPolicy
from chatlab_site.ops.tasks import restore_drill
from tests.backup_support import backup_dir, keyrings, populate  # noqa: F401


@pytest.mark.django_db(transaction=True)
def test_the_drill_restores_the_newest_backup_into_scratch_and_records_a_pass(
        backup_dir, settings, tmp_path, keyrings):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    (tmp_path / "media").mkdir()
    (tmp_path / "media" / "kept.png").write_bytes(b"picture")
    right, _wrong = keyrings
    settings.CHATLAB_BACKUP_GPG_HOME, settings.CHATLAB_BACKUP_GPG_RECIPIENT = (
        right.home, right.fingerprint)
    populate(user_count=2)
    backup_create()
    newest = backup_create()
    assert restore_drill.delay().get() == "ok"
    drill = DrillRun.objects.get(backup_name=newest.name)
    assert drill.status == DrillRun.Status.OK and drill.backup_name == newest.name
    assert drill.tables_checked == newest.tables and drill.rows_checked == newest.rows
    assert drill.files_checked == 3  # database, media archive, one media file


@pytest.mark.django_db(transaction=True)
def test_a_failing_drill_is_an_error_record_and_shows_in_the_admin(backup_dir, settings,
                                                                   tmp_path, caplog, client):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    populate(user_count=1)
    good = backup_create(include_media=False).name
    bad = backup_create(include_media=False).name
    database = next(p for p in backup_dir.iterdir() if p.name.startswith(bad + ".db."))
    database.write_bytes(database.read_bytes()[:-10])
    with caplog.at_level(logging.ERROR, logger="chatlab_site.ops.backups.drill"):
        drill = drill_run()
    assert drill.status == DrillRun.Status.FAILED and drill.backup_name == bad
    assert "truncated" in drill.detail
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert errors and bad in errors[0].getMessage() and "truncated" in errors[0].getMessage()
    # The error log in the admin (analytics) has it too.
    from analytics.models import ErrorEvent
    from analytics.recorder import flush

    flush()
    event = ErrorEvent.objects.get(logger="chatlab_site.ops.backups.drill")
    assert event.level == "ERROR" and event.count == 1 and bad in event.message
    # The older backup still passes its own drill.
    assert drill_run(name=good).status == DrillRun.Status.OK

    from tests.factories import UserFactory

    admin = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(admin)
    page = client.get("/admin/ops/backuprun/").content.decode()
    assert "Last drill" in page and "failed" in page and "truncated" in page
    drills = client.get("/admin/ops/drillrun/").content.decode()
    assert bad in drills and good in drills


@pytest.mark.django_db(transaction=True)
def test_a_drill_with_no_backup_fails(backup_dir):
    drill = drill_run()
    assert drill.status == DrillRun.Status.FAILED and "no complete backup" in drill.detail


def _at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_retention_keeps_the_newest_per_day_week_and_month():
    # Two backups a day for 90 days, newest first: 2026-03-31 back to 2026-01-01.
    times = {}
    for day in range(90):
        for hour in (3, 15):
            moment = _at(2026, 3, 31, hour) - timedelta(days=day)
            times[f"b{moment:%Y%m%d%H}"] = moment
    keep = retention_keep(times=times, daily=3, weekly=2, monthly=2)
    assert keep == {
        "b2026033115", "b2026033015", "b2026032915",  # the last three days (newest each)
        # ISO week 14 starts on Monday 30 March: its newest is the 31st (already kept); week 13
        # ends on Sunday 29 March (kept too).
        "b2026022815",  # month 2 (March's newest is the 31st)
    }
    assert retention_keep(times=times, daily=0, weekly=0, monthly=0) == {"b2026033115"}
    assert len(retention_keep(times=times, daily=100, weekly=0, monthly=0)) == 90


@pytest.mark.django_db(transaction=True)
def test_retention_removes_what_the_policy_does_not_keep(backup_dir, settings, tmp_path):
    """Backups forged at older dates (signed like real ones), then the policy applied."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    real = backup_create(include_media=False)
    manifest = (backup_dir / (real.name + MANIFEST_SUFFIX)).read_text()
    import json

    body = json.loads(manifest)
    body.pop("signature")
    now = name_time(real.name)
    forged = []
    for days in (0.1, 1.1, 2, 3, 10, 40, 41, 75):
        name = backup_name(created_at=now - timedelta(days=days), migrations=body["migrations"])
        for stored in backup_dir.iterdir():
            if stored.name.startswith(real.name + ".") and not stored.name.endswith(
                    MANIFEST_SUFFIX):
                (backup_dir / stored.name.replace(real.name, name)).write_bytes(
                    stored.read_bytes())
        (backup_dir / (name + MANIFEST_SUFFIX)).write_bytes(manifest_dump({**body, "name": name}))
        forged.append(name)
    # A part of a backup that never got its manifest, from long ago: a leftover.
    leftover = backup_name(created_at=now - timedelta(days=5), migrations=body["migrations"])
    (backup_dir / f"{leftover}.db.sqlite3.gz").write_bytes(b"partial")

    policy = RetentionPolicy.current()
    policy.keep_daily, policy.keep_weekly, policy.keep_monthly = 2, 0, 3
    policy.save()
    removed = retention_apply()
    kept = backup_names()
    times = {n: name_time(n) for n in [real.name, *forged]}
    recent = {real.name, forged[0]}  # the last 24 hours are always kept
    assert set(kept) == retention_keep(times=times, daily=2, weekly=0, monthly=3) | recent
    assert len(removed) >= 2  # of nine, at most seven fit 24 hours, 2 days and 3 months
    assert sorted(removed) == sorted(set(times) - set(kept))
    files = {p.name for p in backup_dir.iterdir()}
    assert not any(f.startswith(tuple(removed)) for f in files)
    assert not any(f.startswith(leftover) for f in files)


@pytest.mark.django_db
def test_the_data_migration_schedules_backup_and_drill_on_the_maintenance_queue():
    migration = importlib.import_module("chatlab_site.ops.migrations.0002_backup_schedule")
    PeriodicTask.objects.filter(task__startswith="chatlab_site.ops.").delete()
    RetentionPolicy.objects.all().delete()
    migration.forwards(django_apps, None)
    migration.forwards(django_apps, None)  # idempotent
    tasks = {t.task: t for t in PeriodicTask.objects.filter(task__startswith="chatlab_site.ops.")}
    assert set(tasks) == {"chatlab_site.ops.tasks.backup_scheduled",
                          "chatlab_site.ops.tasks.restore_drill"}
    for task in tasks.values():
        assert task.enabled and task.queue == "maintenance" and task.crontab.hour in ("3", "4")
        assert task.task in app.tasks
        route = app.amqp.router.route({}, task.task, (), {})
        assert route["queue"].name == "maintenance"
    policy = RetentionPolicy.objects.get()
    assert (policy.keep_daily, policy.keep_weekly, policy.keep_monthly) == (7, 4, 6)
