"""Media files (images) through the default storage, local or S3: archived into one tar with a
SHA-256 per file, checked member by member before a restore writes any of them."""

from __future__ import annotations

import tarfile
from pathlib import Path
from typing import Any

from django.core.files import File
from django.core.files.storage import Storage, storages
from django.utils.translation import gettext as _

from .archive import tar_add_hashed, tar_digests
from .errors import BackupError, BackupRefused
from .progress import Progress


def _media() -> Storage:
    return storages["default"]


def media_names(storage: Storage | None = None, folder: str = "") -> list[str]:
    storage = storage or _media()
    try:
        folders, files = storage.listdir(folder)
    except FileNotFoundError:
        return []
    prefix = f"{folder}/" if folder else ""
    names = [prefix + f for f in files]
    for sub in folders:
        names += media_names(storage, prefix + sub)
    return sorted(names)


def media_archive(*, target: Path, progress: Progress) -> dict[str, dict[str, Any]]:
    storage = _media()
    listed: dict[str, dict[str, Any]] = {}
    with tarfile.open(target, "w", format=tarfile.PAX_FORMAT) as tar:
        for name in media_names(storage):
            with storage.open(name, "rb") as source:
                listed[name] = tar_add_hashed(tar, name, source)
            progress(f"  media {name} ({listed[name]['size']} bytes)")
    return listed


def media_verify(*, archive: Path, expected: dict[str, dict[str, Any]]) -> None:
    seen: set[str] = set()
    try:
        for member, digest in tar_digests(archive):
            if digest is None or member.name not in expected:
                raise BackupRefused(_("The media archive holds %(name)s, which the manifest "
                                      "does not list.") % {"name": member.name})
            if digest != expected[member.name]["sha256"]:
                raise BackupRefused(_("The media file %(name)s does not match its checksum.")
                                    % {"name": member.name})
            seen.add(member.name)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise BackupRefused(_("The media archive cannot be read: %(error)s")
                            % {"error": exc}) from exc
    missing = sorted(set(expected) - seen)
    if missing:
        raise BackupRefused(_("The media archive lacks %(count)s files, e.g. %(name)s.")
                            % {"count": len(missing), "name": missing[0]})


def media_restore(*, archive: Path, progress: Progress) -> int:
    """Writes every archived file back under its own name; returns how many. Files that are not
    in the backup are left where they are."""
    storage = _media()
    count = 0
    with tarfile.open(archive, "r:") as tar:
        for member in tar:
            if storage.exists(member.name):
                storage.delete(member.name)
            saved = storage.save(member.name, File(tar.extractfile(member), name=member.name))
            if saved != member.name:
                raise BackupError(_("The media storage saved %(name)s as %(saved)s.")
                                  % {"name": member.name, "saved": saved})
            count += 1
            progress(f"  media {member.name} ({member.size} bytes)")
    return count
