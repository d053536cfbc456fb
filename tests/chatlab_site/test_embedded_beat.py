"""The embedded mode's in-process scheduler, on a clock the tests move."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

import pytest
from celery import shared_task
from django.test import override_settings
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from chatlab_site.ops import embedded_beat
from chatlab_site.ops.embedded_beat import EmbeddedBeat

pytestmark = pytest.mark.django_db(transaction=True)

calls: list[str] = []
release = threading.Event()


@shared_task(name="tests.beat.record")
def record(label: str = "record") -> str:
    calls.append(label)
    return label


@shared_task(name="tests.beat.fail")
def fail() -> None:
    calls.append("fail")
    raise RuntimeError("the task broke")


@shared_task(name="tests.beat.slow")
def slow() -> None:
    calls.append("slow started")
    release.wait(10)
    calls.append("slow done")


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture(autouse=True)
def _clean():
    # Only our entries: the data migrations' schedules would run real maintenance tasks.
    PeriodicTask.objects.all().delete()
    calls.clear()
    release.clear()
    yield
    release.set()


def _every(seconds: int, task: str, name: str | None = None, **fields) -> PeriodicTask:
    interval, _ = IntervalSchedule.objects.get_or_create(every=seconds, period="seconds")
    return PeriodicTask.objects.create(name=name or task, task=task, interval=interval, **fields)


def _run(beat: EmbeddedBeat) -> int:
    threads = beat.tick()
    for thread in threads:
        thread.join(10)
    return len(threads)


def test_an_interval_entry_runs_when_due_and_is_recorded_like_beat():
    clock = Clock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    entry = _every(600, "tests.beat.record", kwargs='{"label": "rollup"}',
                   last_run_at=clock.now - timedelta(seconds=601))
    beat = EmbeddedBeat(clock=clock)

    assert _run(beat) == 1
    assert calls == ["rollup"]
    entry.refresh_from_db()
    assert entry.last_run_at == clock.now and entry.total_run_count == 1

    clock.advance(seconds=599)
    assert _run(beat) == 0
    clock.advance(seconds=2)
    assert _run(beat) == 1
    assert calls == ["rollup", "rollup"]
    entry.refresh_from_db()
    assert entry.total_run_count == 2


def test_a_new_entry_counts_from_when_it_was_made_as_beat_does():
    clock = Clock(datetime.now(UTC))
    _every(60, "tests.beat.record")  # never ran: last_run_at is empty
    beat = EmbeddedBeat(clock=clock)
    assert _run(beat) == 0
    clock.advance(seconds=61)
    assert _run(beat) == 1


def test_a_crontab_entry_runs_at_its_time_in_its_time_zone():
    nightly = CrontabSchedule.objects.create(minute="0", hour="3", timezone="UTC")
    clock = Clock(datetime(2026, 3, 2, 2, 59, tzinfo=UTC))
    PeriodicTask.objects.create(name="Backup (daily)", task="tests.beat.record", crontab=nightly,
                                last_run_at=datetime(2026, 3, 1, 3, 0, tzinfo=UTC))
    beat = EmbeddedBeat(clock=clock)
    assert _run(beat) == 0
    clock.advance(minutes=1, seconds=1)
    assert _run(beat) == 1
    clock.advance(hours=1)
    assert _run(beat) == 0


def test_admin_edits_are_seen_at_the_next_tick_without_a_restart():
    clock = Clock(datetime.now(UTC))
    entry = _every(60, "tests.beat.record", enabled=False,
                   last_run_at=clock.now - timedelta(hours=1))
    beat = EmbeddedBeat(clock=clock, reload_seconds=3600)
    assert _run(beat) == 0

    entry.enabled = True
    entry.save()  # what the admin does: PeriodicTasks.changed
    clock.advance(seconds=61)  # re-enabled, it counts from the edit (django-celery-beat's rule)
    assert _run(beat) == 1

    entry.enabled = False
    entry.save()
    clock.advance(minutes=5)
    assert _run(beat) == 0


def test_a_failing_task_is_logged_and_recorded_and_the_others_still_run(caplog):
    clock = Clock(datetime.now(UTC))
    failing = _every(60, "tests.beat.fail", last_run_at=clock.now - timedelta(hours=1))
    _every(60, "tests.beat.record", last_run_at=clock.now - timedelta(hours=1))
    beat = EmbeddedBeat(clock=clock)
    with caplog.at_level(logging.ERROR, logger="chatlab_site.ops.embedded_beat"):
        assert _run(beat) == 2
    assert sorted(calls) == ["fail", "record"]
    failing.refresh_from_db()
    assert failing.total_run_count == 1
    errors = [r for r in caplog.records if r.name == "chatlab_site.ops.embedded_beat"]
    assert len(errors) == 1 and "the task broke" in errors[0].getMessage()
    assert errors[0].exc_info is not None

    clock.advance(minutes=2)
    assert _run(beat) == 2  # and again at its next time


def test_a_long_task_does_not_hold_up_the_other_entries():
    clock = Clock(datetime.now(UTC))
    slow_entry = _every(60, "tests.beat.slow", last_run_at=clock.now - timedelta(hours=1))
    _every(60, "tests.beat.record", last_run_at=clock.now - timedelta(hours=1))
    beat = EmbeddedBeat(clock=clock)
    started = beat.tick()  # returns at once, the slow task still running
    assert len(started) == 2
    for _ in range(100):
        if "slow started" in calls and "record" in calls:
            break
        threading.Event().wait(0.05)
    assert "slow done" not in calls

    clock.advance(minutes=2)
    again = beat.tick()  # the quick one runs again, the slow one is not started twice
    for thread in again:
        thread.join(10)
    assert calls.count("record") == 2 and calls.count("slow started") == 1
    slow_entry.refresh_from_db()
    assert slow_entry.total_run_count == 1
    release.set()
    for thread in started:
        thread.join(10)
    assert "slow done" in calls


def test_a_one_off_entry_runs_once_and_is_switched_off():
    clock = Clock(datetime.now(UTC))
    entry = _every(60, "tests.beat.record", one_off=True,
                   last_run_at=clock.now - timedelta(hours=1))
    beat = EmbeddedBeat(clock=clock)
    assert _run(beat) == 1
    clock.advance(minutes=5)
    assert _run(beat) == 0
    entry.refresh_from_db()
    assert entry.enabled is False


def test_it_starts_once_per_process_and_only_in_the_embedded_mode(monkeypatch):
    started = []
    monkeypatch.setattr(EmbeddedBeat, "start", lambda self: started.append(self))
    monkeypatch.setattr(embedded_beat, "_started", None)
    with override_settings(CELERY_TASK_ALWAYS_EAGER=False):
        assert embedded_beat.embedded_beat_start() is None
    first = embedded_beat.embedded_beat_start()
    assert first is not None and embedded_beat.embedded_beat_start() is first
    assert started == [first]
