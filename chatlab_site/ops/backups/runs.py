"""backup_run: one recorded backup attempt (backup, then retention), as the schedule, the admin
and the command line start them. Failures are recorded, logged as errors and re-raised."""

from __future__ import annotations

import logging

from django.utils import timezone

from chatlab_site.ops.models import BackupRun

from .create import backup_create
from .progress import Progress, quiet
from .retention import retention_apply

log = logging.getLogger(__name__)


def backup_run(*, trigger: str, requested_by_id: int | None = None, attempt: int = 1,
               progress: Progress = quiet) -> BackupRun:
    run = BackupRun(trigger=trigger, requested_by_id=requested_by_id, attempt=attempt,
                    started_at=timezone.now())
    try:
        result = backup_create(progress=progress)
        run.name, run.size = result.name, result.size
        progress("retention")
        run.pruned = len(retention_apply(progress=progress))
    except Exception as exc:
        run.status, run.error = BackupRun.Status.FAILED, str(exc) or repr(exc)
        run.finished_at = timezone.now()
        run.save()
        log.error("Backup failed (attempt %s, %s): %s", attempt, trigger, run.error)
        raise
    run.status, run.finished_at = BackupRun.Status.OK, timezone.now()
    run.save()
    log.info("Backup %s written (%s bytes, %s old backups removed)", run.name, run.size,
             run.pruned)
    return run
