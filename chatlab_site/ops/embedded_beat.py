"""The embedded mode's beat: django-celery-beat's schedules, run inside the web process.

The embedded mode has no broker, so no beat and no worker: without this, no backup, drill,
rollup or purge would ever run on a single-machine install. A thread of its own (never daphne's
event loop) reads the PeriodicTask table, asks each entry's own celery schedule whether it is
due (`PeriodicTask.schedule.is_due`, so crontab, interval and clocked entries mean what they
mean to beat), records the run as beat does (last_run_at, total_run_count) and runs the task on
a thread of its own, so a long backup never holds up the other entries. Edits made in the admin
are picked up at the next tick (PeriodicTasks.changed), and the table is re-read every minute
anyway.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connections
from django.db.models import F
from django.utils import timezone
from django_celery_beat.models import PeriodicTask, PeriodicTasks
from kombu.utils.json import loads

from chatlab_site.celery import app as celery_app

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


@dataclass
class _Entry:
    id: int
    name: str
    task: str
    args: list[Any]
    kwargs: dict[str, Any]
    schedule: Any  # a celery schedule (interval, TzAwareCrontab, solar, clocked)
    last_run_at: datetime
    one_off: bool
    start_time: datetime | None
    expires: datetime | None


def _schedule_on(schedule: Any, clock: Clock) -> Any:
    # Celery schedules ask their own `nowfun`; pointing it at our clock keeps one notion of now
    # (and lets tests move it). A crontab compares in its own time zone.
    zone = getattr(schedule, "tz", None)
    schedule.nowfun = (lambda: clock().astimezone(zone)) if zone is not None else clock
    return schedule


class EmbeddedBeat:
    def __init__(self, *, clock: Clock = timezone.now, tick_seconds: float = 5.0,
                 reload_seconds: float = 60.0) -> None:
        self._clock = clock
        self._tick_seconds = tick_seconds
        self._reload_seconds = reload_seconds
        self._entries: list[_Entry] = []
        self._loaded_at: datetime | None = None
        self._last_change: datetime | None = None
        self._running: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="chatlab-embedded-beat",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        # The worker imports every app's tasks module at start; a web process may not have.
        celery_app.loader.import_default_modules()
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("The embedded scheduler could not read the schedules")
            finally:
                connections.close_all()  # this thread's only: a pool gets its connection back
            self._stop.wait(self._tick_seconds)

    def tick(self) -> list[threading.Thread]:
        """Starts every entry that is due; returns the threads running them."""
        self._reload_if_stale()
        now = self._clock()
        started = []
        for entry in list(self._entries):
            if not self._due(entry, now):
                continue
            with self._lock:
                if entry.id in self._running:
                    log.warning("%s is due but its previous run has not finished: skipped",
                                entry.name)
                    continue
                self._running.add(entry.id)
            self._record(entry, now)
            thread = threading.Thread(target=self._run, args=(entry,), daemon=True,
                                      name=f"chatlab-beat-{entry.task.rsplit('.', 1)[-1]}")
            thread.start()
            started.append(thread)
        return started

    def _reload_if_stale(self) -> None:
        now = self._clock()
        changed = PeriodicTasks.last_change()
        if (self._loaded_at is not None and changed == self._last_change
                and (now - self._loaded_at).total_seconds() < self._reload_seconds):
            return
        self._last_change, self._loaded_at = changed, now
        self._entries = [self._entry(task, now) for task in PeriodicTask.objects.filter(
            enabled=True).select_related("interval", "crontab", "solar", "clocked")
            if task.scheduler is not None]

    def _entry(self, task: PeriodicTask, now: datetime) -> _Entry:
        return _Entry(
            id=task.pk, name=task.name, task=task.task, args=loads(task.args or "[]"),
            kwargs=loads(task.kwargs or "{}"), schedule=_schedule_on(task.schedule, self._clock),
            # As beat: a new entry counts from when it was last edited.
            last_run_at=task.last_run_at or task.date_changed or now, one_off=task.one_off,
            start_time=task.start_time, expires=task.expires)

    def _due(self, entry: _Entry, now: datetime) -> bool:
        if entry.start_time is not None and now < entry.start_time:
            return False
        if entry.expires is not None and now >= entry.expires:
            return False
        return bool(entry.schedule.is_due(entry.last_run_at).is_due)

    def _record(self, entry: _Entry, now: datetime) -> None:
        # update(), not save(): bookkeeping must not count as an edit (PeriodicTasks.changed).
        changes: dict[str, Any] = {"last_run_at": now,
                                   "total_run_count": F("total_run_count") + 1}
        if entry.one_off:
            changes["enabled"] = False
            self._entries.remove(entry)
        PeriodicTask.objects.filter(pk=entry.id).update(**changes)
        entry.last_run_at = now

    def _run(self, entry: _Entry) -> None:
        close_old_connections()
        try:
            task = celery_app.tasks.get(entry.task)
            if task is None:
                log.error("Scheduled task %s (%s) is not a known task", entry.name, entry.task)
                return
            result = task.apply(args=entry.args, kwargs=entry.kwargs, throw=False,
                                headers={"periodic_task_name": entry.name})
            if result.failed():
                log.error("Scheduled task %s (%s) failed: %r", entry.name, entry.task,
                          result.result, exc_info=(type(result.result), result.result,
                                                   result.result.__traceback__))
            else:
                log.info("Scheduled task %s (%s) done", entry.name, entry.task)
        except Exception:
            log.exception("Scheduled task %s (%s) failed", entry.name, entry.task)
        finally:
            with self._lock:
                self._running.discard(entry.id)
            connections.close_all()


_started: EmbeddedBeat | None = None
_start_lock = threading.Lock()


def embedded_beat_start() -> EmbeddedBeat | None:
    """Starts the scheduler once per process, in the embedded mode only (a production install
    runs celery beat); returns it, or None when this mode has a beat of its own."""
    global _started
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        return None
    with _start_lock:
        if _started is None:
            _started = EmbeddedBeat()
            _started.start()
            log.info("Embedded scheduler started: the periodic tasks run in this process")
    return _started
