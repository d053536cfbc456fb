"""SQLite: dumped with the online backup API (django-dbbackup's SqliteBackupConnector), which
copies a consistent snapshot while the site keeps writing, and restored the same way, so the
replacement is one transaction on the live file (WAL and other connections included)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from dbbackup.db.sqlite import SqliteBackupConnector
from django.db import connection
from django.utils.translation import gettext as _

from .errors import BackupError, BackupRefused
from .progress import Progress

EXTENSION = "sqlite3"


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sqlite_dump(*, target: Path) -> None:
    dump = SqliteBackupConnector().create_dump()
    with target.open("wb") as out:
        shutil.copyfileobj(dump, out)


def sqlite_inventory(*, path: Path,
                     progress: Progress) -> tuple[dict[str, int], dict[str, list[str]]]:
    """Row counts of every table and the applied migrations, read from a dump file."""
    try:
        db = sqlite3.connect(path)
        try:
            status = db.execute("PRAGMA integrity_check").fetchone()[0]
            if status != "ok":
                raise BackupRefused(_("The database file fails SQLite's integrity check: "
                                      "%(status)s") % {"status": status})
            tables = [row[0] for row in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name")]
            counts: dict[str, int] = {}
            for table in tables:
                counts[table] = db.execute(f"SELECT count(*) FROM {_quoted(table)}").fetchone()[0]
                progress(f"  rows  {table}: {counts[table]}")
            migrations: dict[str, list[str]] = {}
            if "django_migrations" in counts:
                for app, name in db.execute("SELECT app, name FROM django_migrations ORDER BY id"):
                    migrations.setdefault(app, []).append(name)
            return counts, migrations
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        raise BackupRefused(_("The database file is not a readable SQLite database: %(error)s")
                            % {"error": exc}) from exc


def sqlite_restore(*, path: Path) -> None:
    if connection.in_atomic_block:
        raise BackupError(_("A restore cannot run inside a transaction."))
    connection.ensure_connection()
    source = sqlite3.connect(path)
    try:
        # One step (pages=-1): the destination is replaced in a single transaction.
        source.backup(connection.connection)
    finally:
        source.close()
