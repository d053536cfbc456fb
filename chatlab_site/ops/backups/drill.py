"""The restore drill: the newest backup checked end to end and restored into a scratch database
(PostgreSQL: a temporary database; SQLite: a temporary file), its row counts compared with the
manifest. The result is a DrillRun row; a failure is also logged as an error."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from django.utils import timezone
from django.utils.translation import gettext as _

from chatlab_site.ops.models import DrillRun

from .database import counts_compare, database_scratch_counts
from .errors import BackupError
from .progress import Progress, quiet
from .restore import backup_latest, backup_prepare

log = logging.getLogger(__name__)


def drill_run(*, name: str | None = None, progress: Progress = quiet) -> DrillRun:
    started = timezone.now()
    result = DrillRun(started_at=started, backup_name=name or "", status=DrillRun.Status.OK)
    try:
        result.backup_name = name = name or backup_latest()
        with tempfile.TemporaryDirectory(prefix="chatlab-drill-") as tmp:
            prepared = backup_prepare(name=name, workdir=Path(tmp), progress=progress)
            progress("[4/5] restore into a scratch database")
            counts = database_scratch_counts(path=prepared.database, manifest=prepared.manifest,
                                             progress=progress)
            counts_compare(found=counts, manifest=prepared.manifest)
        result.tables_checked = len(counts)
        result.rows_checked = sum(counts.values())
        result.files_checked = (len(prepared.manifest["files"]) + len(prepared.manifest["media"])
                                + len(prepared.manifest.get("logs") or {}))
        result.detail = _("%(tables)s tables, %(rows)s rows and %(files)s files match the "
                          "manifest.") % {"tables": result.tables_checked,
                                          "rows": result.rows_checked,
                                          "files": result.files_checked}
        progress("[5/5] " + result.detail)
    except BackupError as exc:
        result.status, result.detail = DrillRun.Status.FAILED, str(exc)
    except Exception as exc:  # a drill reports every failure; the traceback goes to the log
        result.status = DrillRun.Status.FAILED
        result.detail = _("Unexpected error: %(error)r") % {"error": exc}
        log.exception("restore drill of %s crashed", name)
    result.finished_at = timezone.now()
    result.save()
    if result.status == DrillRun.Status.FAILED:
        log.error("Backup restore drill failed for %s: %s", result.backup_name or "-",
                  result.detail)
    return result
