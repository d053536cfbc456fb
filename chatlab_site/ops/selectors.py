"""backup_catalog: the backups in the storage, newest first, with their latest drill."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .backups.errors import BackupError
from .backups.naming import MANIFEST_SUFFIX, name_time
from .backups.storage import backup_names, manifest_read
from .models import DrillRun


@dataclass
class CatalogEntry:
    name: str
    created_at: datetime | None
    size: int | None
    encrypted: bool
    migration_state: str
    files: list[str]
    drill: DrillRun | None
    problem: str = ""


def backup_catalog() -> list[CatalogEntry]:
    names = list(reversed(backup_names()))
    drills: dict[str, DrillRun] = {}
    for drill in DrillRun.objects.filter(backup_name__in=names).order_by("-started_at"):
        drills.setdefault(drill.backup_name, drill)
    entries = []
    for name in names:
        try:
            manifest: dict[str, Any] = manifest_read(name)
        except BackupError as exc:
            entries.append(CatalogEntry(name=name, created_at=name_time(name), size=None,
                                        encrypted=False, migration_state="?",
                                        files=[name + MANIFEST_SUFFIX], drill=drills.get(name),
                                        problem=str(exc)))
            continue
        entries.append(CatalogEntry(
            name=name, created_at=name_time(name),
            size=sum(f["size"] for f in manifest["files"].values()),
            encrypted=manifest["encrypted"], migration_state=manifest["migration_state"],
            files=[MANIFEST_SUFFIX.lstrip("."), *sorted(manifest["files"])],
            drill=drills.get(name)))
    return entries
