"""The log file (CHATLAB_LOG_FILE) and its rotated copies, in every backup.

A restore never writes over the files the running site is writing: it puts the backup's logs in
DATA_DIR/restored-logs/<backup name>/, beside them.
"""

from __future__ import annotations

import re
import shutil
import tarfile
from pathlib import Path
from typing import Any

from django.conf import settings

from .archive import tar_add_hashed, tar_digests
from .errors import BackupRefused
from .progress import Progress


def log_files() -> list[Path]:
    """chatlab.log, chatlab.log.1, ... as RotatingFileHandler names them; [] when logs go to
    stdout only."""
    current: Path | None = settings.CHATLAB_LOG_FILE
    if current is None or not current.parent.is_dir():
        return []
    rotated = re.compile(re.escape(current.name) + r"(\.\d+)?")
    return sorted(path for path in current.parent.iterdir()
                  if rotated.fullmatch(path.name) and path.is_file())


def logs_archive(*, target: Path, progress: Progress) -> dict[str, dict[str, Any]]:
    listed: dict[str, dict[str, Any]] = {}
    with tarfile.open(target, "w", format=tarfile.PAX_FORMAT) as tar:
        for path in log_files():
            with path.open("rb") as source:
                listed[path.name] = tar_add_hashed(tar, path.name, source, mode=0o600)
            progress(f"  log   {path.name} ({listed[path.name]['size']} bytes)")
    return listed


def logs_verify(*, archive: Path, expected: dict[str, dict[str, Any]]) -> None:
    seen: set[str] = set()
    try:
        for member, digest in tar_digests(archive):
            if digest is None or member.name not in expected:
                raise BackupRefused(f"The log archive holds {member.name}, which the "
                                    "manifest does not list.")
            if digest != expected[member.name]["sha256"]:
                raise BackupRefused(f"The log file {member.name} does not match its checksum.")
            seen.add(member.name)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise BackupRefused(f"The log archive cannot be read: {exc}") from exc
    if missing := sorted(set(expected) - seen):
        raise BackupRefused(f"The log archive lacks {len(missing)} files, e.g. {missing[0]}.")


def logs_restore_folder(name: str) -> Path:
    return Path(settings.DATA_DIR) / "restored-logs" / name


def logs_restore(*, archive: Path, name: str, progress: Progress) -> Path:
    """Writes the backup's log files into their own folder; returns it."""
    folder = logs_restore_folder(name)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    with tarfile.open(archive, "r:") as tar:
        for member in tar:
            # Names were checked against the manifest (logs_verify); keep only the base name.
            with tar.extractfile(member) as source, (folder / Path(member.name).name).open(
                    "wb") as out:
                shutil.copyfileobj(source, out)
            progress(f"  log   {member.name} -> {folder}")
    return folder
