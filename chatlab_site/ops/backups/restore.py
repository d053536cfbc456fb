"""backup_prepare checks a backup completely (manifest signature, schema, every file's size and
SHA-256, decryption, decompression, the dump itself, every media file) without touching the
site; backup_restore then replaces the database and media, and checks the row counts again."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db.migrations.loader import MigrationLoader
from django.utils.translation import gettext as _

from .database import counts_compare, database_prepare, database_restore, live_counts
from .errors import BackupRefused
from .logs import logs_restore, logs_verify
from .manifest import CHUNK
from .media import media_restore, media_verify
from .naming import unknown_migrations
from .progress import Progress, quiet
from .storage import backup_names, manifest_read, storage_errors, storage_open


class RestoreCancelled(Exception):
    pass


@dataclass
class PreparedBackup:
    name: str
    manifest: dict[str, Any]
    database: Path
    media: Path | None
    behind: bool
    logs: Path | None = None
    foreign_migrations: list[str] = field(default_factory=list)


@dataclass
class RestoreReport:
    name: str
    before: dict[str, int]
    after: dict[str, int]
    media_files: int
    migrated: bool
    logs_folder: Path | None = None


def backup_latest() -> str:
    names = backup_names()
    if not names:
        raise BackupRefused(_("There is no complete backup in the backup storage."))
    return names[-1]


def _download(*, stored: str, meta: dict[str, Any], target: Path, progress: Progress) -> None:
    digest, size = hashlib.sha256(), 0
    with storage_open(stored) as source, target.open("wb") as out, \
            storage_errors(_("reading %(file)s") % {"file": stored}):
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
            size += len(chunk)
    if size != meta["size"]:
        raise BackupRefused(_("%(file)s is %(size)s bytes, the manifest says %(expected)s "
                              "(truncated or replaced).")
                            % {"file": stored, "size": size, "expected": meta["size"]})
    if digest.hexdigest() != meta["sha256"]:
        raise BackupRefused(_("%(file)s does not match its SHA-256 checksum (corrupted or "
                              "tampered).") % {"file": stored})
    progress(f"  file  {stored}: {size} bytes, sha256 ok")


def _plain_check(path: Path, meta: dict[str, Any], part: str) -> None:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    if digest.hexdigest() != meta["plain_sha256"]:
        raise BackupRefused(_("The content of %(part)s does not match its checksum.")
                            % {"part": part})


def backup_prepare(*, name: str, workdir: Path, progress: Progress = quiet) -> PreparedBackup:
    from .packing import unpack

    progress(f"[1/5] manifest of {name}")
    manifest = manifest_read(name)
    newer, foreign = unknown_migrations(manifest["migrations"])
    if newer:
        raise BackupRefused(_(
            "%(name)s comes from a newer schema: this code lacks %(count)s of its migrations "
            "(%(first)s...). Upgrade Chatlab first, then restore.")
            % {"name": name, "count": len(newer), "first": newer[0]})
    behind = _behind(manifest["migrations"])
    progress(f"  schema {manifest['migration_state']}"
             + (" (older than this code: migrate runs after the restore)" if behind else ""))
    progress("[2/5] download and checksums")
    plain: dict[str, Path] = {}
    for stored, meta in sorted(manifest["files"].items()):
        target = workdir / stored
        _download(stored=f"{name}.{stored}", meta=meta, target=target, progress=progress)
        plain[stored] = unpack(source=target, part=stored, compression=meta.get("compression"))
        _plain_check(plain[stored], meta, stored)
        if plain[stored] != target:  # a part stored uncompressed is its own plain file
            target.unlink()
    for required in filter(None, (manifest["database_file"], manifest.get("media_file"),
                                  manifest.get("logs_file"))):
        if required not in plain:
            raise BackupRefused(_("The manifest names %(file)s but does not list it.")
                                % {"file": required})
    progress("[3/5] database dump")
    database = plain[manifest["database_file"]]
    database_prepare(path=database, manifest=manifest, progress=progress)
    media = plain.get(manifest.get("media_file") or "")
    if media is not None:
        progress(f"  media {len(manifest['media'])} files")
        media_verify(archive=media, expected=manifest["media"])
    logs = plain.get(manifest.get("logs_file") or "")
    if logs is not None:
        progress(f"  logs  {len(manifest['logs'])} files")
        logs_verify(archive=logs, expected=manifest["logs"])
    return PreparedBackup(name=name, manifest=manifest, database=database, media=media,
                          behind=behind, foreign_migrations=foreign, logs=logs)


def _behind(migrations: dict[str, list[str]]) -> bool:
    """Does this code have migrations the backup's database had not applied?"""
    theirs = {(app, n) for app, names in migrations.items() for n in names}
    graph = MigrationLoader(None, ignore_no_migrations=True).graph
    return any(node not in theirs for node in graph.nodes)


def backup_restore(*, name: str, workdir: Path,
                   confirm: Callable[[PreparedBackup, dict[str, int]], bool],
                   progress: Progress = quiet) -> RestoreReport:
    prepared = backup_prepare(name=name, workdir=workdir, progress=progress)
    before = live_counts()
    if not confirm(prepared, before):
        raise RestoreCancelled()
    progress("[4/5] restore the database")
    database_restore(path=prepared.database, manifest=prepared.manifest)
    ContentType.objects.clear_cache()
    after = live_counts()
    counts_compare(found=after, manifest=prepared.manifest)
    media_files = 0
    progress("[5/5] restore the media")
    if prepared.media is not None:
        media_files = media_restore(archive=prepared.media, progress=progress)
    logs_folder = None
    if prepared.logs is not None:
        # Beside the live log files, never over them: the site may be writing them.
        logs_folder = logs_restore(archive=prepared.logs, name=name, progress=progress)
    if prepared.behind:
        progress("  the backup's schema is older: migrate")
        call_command("migrate", interactive=False, verbosity=0)
    return RestoreReport(name=name, before=before, after=after, media_files=media_files,
                         migrated=prepared.behind, logs_folder=logs_folder)
