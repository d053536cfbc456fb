"""Celery tasks on the `maintenance` queue, started by celery beat (see schedule.py) or the admin.

A backup that fails because the storage is unreachable or full is recorded, logged, and retried
with exponential backoff (1, 2, 4 ... minutes, at most an hour apart, six times)."""

from __future__ import annotations

from celery import shared_task

from .backups.drill import drill_run
from .backups.errors import BackupStorageUnavailable
from .backups.runs import backup_run


@shared_task(bind=True, autoretry_for=(BackupStorageUnavailable,), retry_backoff=60,
             retry_backoff_max=3600, retry_jitter=False, max_retries=6)
def backup_scheduled(self, trigger: str = "schedule", requested_by_id: int | None = None) -> str:
    return backup_run(trigger=trigger, requested_by_id=requested_by_id,
                      attempt=self.request.retries + 1).name


@shared_task
def restore_drill() -> str:
    return drill_run().status
