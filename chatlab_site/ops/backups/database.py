"""The database part of a backup, whichever engine the site runs on."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import connection
from django.utils.translation import gettext as _

from . import postgres, sqlite
from .errors import BackupError, BackupRefused
from .progress import Progress


@dataclass
class DatabaseDump:
    path: Path
    vendor: str
    tables: dict[str, int]
    migrations: dict[str, list[str]]
    schema: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    # pg_dump's custom format compresses its data itself: gzip on top cost ~9 s of a 44 s
    # backup for almost no bytes (issue #20), so that part is stored as it is.
    compressed: bool = False


def _vendor() -> str:
    if connection.vendor not in ("sqlite", "postgresql"):
        raise BackupError(_("Backups support SQLite and PostgreSQL, not %(vendor)s.")
                          % {"vendor": connection.vendor})
    return connection.vendor


def database_dump(*, workdir: Path, progress: Progress) -> DatabaseDump:
    vendor = _vendor()
    if vendor == "sqlite":
        path = workdir / f"db.{sqlite.EXTENSION}"
        progress("  SQLite online backup")
        sqlite.sqlite_dump(target=path)
        tables, migrations = sqlite.sqlite_inventory(path=path, progress=progress)
        return DatabaseDump(path=path, vendor=vendor, tables=tables, migrations=migrations)
    path = workdir / f"db.{postgres.EXTENSION}"
    tables, migrations, schema = postgres.pg_dump(target=path, progress=progress)
    return DatabaseDump(path=path, vendor=vendor, tables=tables, migrations=migrations,
                        schema=schema, compressed=True)


def database_extension() -> str:
    return sqlite.EXTENSION if _vendor() == "sqlite" else postgres.EXTENSION


def database_prepare(*, path: Path, manifest: dict[str, Any], progress: Progress) -> None:
    """Everything that can be checked without touching the live database."""
    if manifest["vendor"] != _vendor():
        raise BackupRefused(_("This is a %(theirs)s backup; this site runs on %(ours)s.")
                            % {"theirs": manifest["vendor"], "ours": _vendor()})
    if manifest["vendor"] == "sqlite":
        tables, _migrations = sqlite.sqlite_inventory(path=path, progress=progress)
        counts_compare(found=tables, manifest=manifest)
    else:
        postgres.pg_check_archive(path=path, script=path.with_name("restore.sql"))


def database_restore(*, path: Path, manifest: dict[str, Any]) -> None:
    if manifest["vendor"] == "sqlite":
        sqlite.sqlite_restore(path=path)
    else:
        postgres.pg_restore_live(script=path.with_name("restore.sql"), manifest=manifest)
    connection.close()


def database_scratch_counts(*, path: Path, manifest: dict[str, Any],
                            progress: Progress) -> dict[str, int]:
    if manifest["vendor"] == "sqlite":
        # database_prepare counted the decrypted file already: it is the scratch copy.
        return sqlite.sqlite_inventory(path=path, progress=lambda line: None)[0]
    return postgres.pg_scratch_counts(path=path, manifest=manifest, progress=progress)


def live_counts() -> dict[str, int]:
    counts = {}
    with connection.cursor() as cursor:
        for table in sorted(connection.introspection.table_names(cursor)):
            if table.startswith("sqlite_"):
                continue
            cursor.execute(f"SELECT count(*) FROM {connection.ops.quote_name(table)}")
            counts[table] = cursor.fetchone()[0]
    return counts


def counts_compare(*, found: dict[str, int], manifest: dict[str, Any]) -> None:
    expected = manifest["tables"]
    wrong = [f"{t}: {found.get(t, 'missing')} != {n}" for t, n in sorted(expected.items())
             if found.get(t) != n]
    extra = sorted(set(found) - set(expected))
    if wrong or extra:
        detail = "; ".join(wrong[:5] + [f"{t}: not in the manifest" for t in extra[:5]])
        raise BackupRefused(_("Row counts differ from the manifest (%(detail)s).")
                            % {"detail": detail})
