"""`python -m chatlab_site.serve` in the embedded mode runs the periodic tasks itself: a backup
scheduled every second is made by the web process, with no beat and no worker."""

from __future__ import annotations

import time

import pytest

from tests.stack import stack

pytestmark = pytest.mark.multiprocess

SETUP = """
from django_celery_beat.models import IntervalSchedule, PeriodicTask
every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period="seconds")
PeriodicTask.objects.create(name="Backup (test)", task="chatlab_site.ops.tasks.backup_scheduled",
                            interval=every_second, queue="maintenance")
"""
RUNS = """
from chatlab_site.ops.models import BackupRun
from django_celery_beat.models import PeriodicTask
task = PeriodicTask.objects.get(name="Backup (test)")
print(BackupRun.objects.filter(status="ok", trigger="schedule").count(), task.total_run_count)
"""


def test_the_embedded_server_runs_the_schedules(tmp_path):
    with stack(tmp_path, postgres=False, redis=False) as s:
        s.shell(SETUP)
        s.daphne()
        deadline = time.monotonic() + 60
        runs = counted = 0
        while time.monotonic() < deadline:
            runs, counted = map(int, s.shell(RUNS).strip().splitlines()[-1].split())
            if runs:
                break
            time.sleep(1)
        assert runs >= 1 and counted >= 1, s.logs()
        assert list((tmp_path / "data" / "backups").glob("chatlab-*.manifest.json"))
        assert "Embedded scheduler started" in s.log("web")
