"""backup_create: dump, archive (media, log files), pack, upload, then the signed manifest last,
which also records what a restore needs besides the backup (restore_needs.py)."""

from __future__ import annotations

import io
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from .database import database_dump
from .errors import BackupError
from .logs import log_files, logs_archive
from .manifest import FORMAT, manifest_dump, sha256_of
from .media import media_archive
from .naming import MANIFEST_SUFFIX, backup_name, migration_state
from .packing import GZIP, NONE, pack
from .progress import Progress, quiet
from .restore_needs import restore_needs_record
from .storage import storage_delete, storage_write


@dataclass
class BackupResult:
    name: str
    size: int
    tables: int
    rows: int
    media_files: int
    encrypted: bool
    log_files: int = 0


def _digest(path: Path) -> tuple[str, int]:
    with path.open("rb") as stream:
        return sha256_of(stream)


def backup_create(*, progress: Progress = quiet, include_media: bool | None = None) -> BackupResult:
    include_media = settings.CHATLAB_BACKUP_MEDIA if include_media is None else include_media
    created_at = timezone.now()
    with tempfile.TemporaryDirectory(prefix="chatlab-backup-") as tmp:
        workdir = Path(tmp)
        progress("[1/4] database")
        dump = database_dump(workdir=workdir, progress=progress)
        name = backup_name(created_at=created_at, migrations=dump.migrations)
        parts = {dump.path.name: dump.path}
        media: dict[str, dict[str, Any]] = {}
        progress("[2/4] media")
        if include_media:
            archive = workdir / "media.tar"
            media = media_archive(target=archive, progress=progress)
            parts[archive.name] = archive
        else:
            progress("  skipped (CHATLAB_BACKUP_MEDIA is off)")
        logs: dict[str, dict[str, Any]] = {}
        if log_files():
            archive = workdir / "logs.tar"
            logs = logs_archive(target=archive, progress=progress)
            parts[archive.name] = archive
        progress(f"[3/4] upload {name}")
        files: dict[str, dict[str, Any]] = {}
        stored_parts: dict[str, str] = {}
        written: list[str] = []
        fingerprint = ""
        try:
            for part, path in parts.items():
                plain_sha, plain_size = _digest(path)
                compress = not (path == dump.path and dump.compressed)
                packed, stored, fingerprint = pack(source=path, part=part, compress=compress)
                sha, size = _digest(packed)
                with packed.open("rb") as stream:
                    storage_write(name=f"{name}.{stored}", stream=stream)
                written.append(f"{name}.{stored}")
                files[stored] = {"sha256": sha, "size": size, "plain_sha256": plain_sha,
                                 "plain_size": plain_size,
                                 "compression": GZIP if compress else NONE}
                stored_parts[part] = stored
                progress(f"  file  {name}.{stored} ({size} bytes, sha256 {sha[:12]})")
            body = {
                "format": FORMAT, "name": name, "created_at": created_at.isoformat(),
                "host": socket.gethostname(), "vendor": dump.vendor, "schema": dump.schema,
                "migrations": dump.migrations, "migration_state": migration_state(dump.migrations),
                "tables": dump.tables, "files": files, "media": media,
                "database_file": stored_parts[dump.path.name],
                "media_file": stored_parts.get("media.tar"),
                "encrypted": bool(fingerprint), "gpg_fingerprint": fingerprint,
                # Per part since issue #20: files[part]["compression"] is "gzip" or "none".
                "compression": "per-file",
                "logs": logs, "logs_file": stored_parts.get("logs.tar"),
                **restore_needs_record(),
            }
            progress("[4/4] manifest")
            storage_write(name=name + MANIFEST_SUFFIX, stream=io.BytesIO(manifest_dump(body)))
        except BaseException:
            for stored_name in written:
                try:
                    storage_delete(stored_name)
                except BackupError:
                    pass
            raise
    return BackupResult(name=name, size=sum(f["size"] for f in files.values()),
                        tables=len(dump.tables), rows=sum(dump.tables.values()),
                        media_files=len(media), encrypted=bool(fingerprint),
                        log_files=len(logs))
