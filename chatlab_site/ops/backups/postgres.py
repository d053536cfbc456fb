"""PostgreSQL: pg_dump (django-dbbackup's PgDumpBinaryConnector, custom format) inside one
exported snapshot, so the dump and the manifest's row counts are the same moment under live
writes; restored by psql in one transaction that commits only if every table's count matches."""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path
from typing import Any

import psycopg
from dbbackup.db.postgresql import PgDumpBinaryConnector, parse_postgres_settings
from django.conf import settings
from django.db import connection
from django.utils.translation import gettext as _
from psycopg import sql

from .errors import BackupError, BackupRefused
from .progress import Progress

EXTENSION = "psql.bin"
TABLES = """SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'p') AND n.nspname = current_schema() ORDER BY 1"""
_PARAMS = {"dbname", "user", "password", "host", "port", "sslmode", "sslrootcert", "sslcert",
           "sslkey", "passfile", "service", "options", "connect_timeout", "application_name"}


def _tool(name: str) -> str:
    folder = settings.CHATLAB_BACKUP_PG_BIN
    return os.path.join(folder, name) if folder else name


def _params(dbname: str | None = None) -> dict[str, Any]:
    params = {k: v for k, v in connection.get_connection_params().items() if k in _PARAMS}
    if dbname:
        params["dbname"] = dbname
    return params


def _connector(dbname: str | None = None) -> PgDumpBinaryConnector:
    connector = PgDumpBinaryConnector()
    connector.dump_cmd = _tool("pg_dump")
    if dbname:
        connector._settings = {**connector.settings, "NAME": dbname}
    return connector


def _run(args: list[str], *, dbname: str | None = None, what: str) -> None:
    cmd_part, env = parse_postgres_settings(_connector(dbname))
    done = subprocess.run([*args, cmd_part], env={**os.environ, **env}, capture_output=True,
                          text=True, check=False)
    if done.returncode:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise BackupError(_("%(what)s failed: %(error)s")
                          % {"what": what, "error": " / ".join(lines[-3:]) or done.returncode})


def _count(cursor: psycopg.Cursor, schema: str, table: str) -> int:
    query = sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema),
                                                         sql.Identifier(table))
    return cursor.execute(query).fetchone()[0]


def pg_dump(*, target: Path,
            progress: Progress) -> tuple[dict[str, int], dict[str, list[str]], str]:
    """Dumps the database; returns the row counts, migrations and schema of the same snapshot."""
    with psycopg.connect(**_params(), autocommit=False) as snap:
        snap.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        snap.read_only = True
        cursor = snap.cursor()
        snapshot = cursor.execute("SELECT pg_export_snapshot()").fetchone()[0]
        schema = cursor.execute("SELECT current_schema()").fetchone()[0]
        counts: dict[str, int] = {}
        for (table,) in cursor.execute(TABLES).fetchall():
            counts[table] = _count(cursor, schema, table)
            progress(f"  rows  {table}: {counts[table]}")
        migrations: dict[str, list[str]] = {}
        if "django_migrations" in counts:
            for app, name in cursor.execute("SELECT app, name FROM django_migrations ORDER BY id"):
                migrations.setdefault(app, []).append(name)
        progress("  pg_dump (one snapshot with the counts above)")
        connector = _connector()
        connector.dump_suffix = f"--snapshot={snapshot}"
        dump = connector.create_dump()
        with target.open("wb") as out:
            while chunk := dump.read(1024 * 1024):
                out.write(chunk)
        snap.rollback()
    return counts, migrations, schema


def pg_check_archive(*, path: Path, script: Path) -> None:
    """Reads the whole archive into a restore script (a truncated archive fails here)."""
    done = subprocess.run([_tool("pg_restore"), "--clean", "--if-exists", "--no-owner",
                           "--no-acl", "-f", str(script), str(path)],
                          capture_output=True, text=True, check=False)
    if done.returncode:
        raise BackupRefused(_("The PostgreSQL dump cannot be read: %(error)s")
                            % {"error": done.stderr.strip()[-300:]})


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ident(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def pg_restore_live(*, script: Path, manifest: dict[str, Any]) -> None:
    schema = manifest.get("schema") or "public"
    with connection.cursor() as cursor:
        cursor.execute(TABLES)
        present = {row[0] for row in cursor.fetchall()}
    extra = sorted(present - set(manifest["tables"]))
    prelude = script.with_name("prelude.sql")
    # Waits for no one: a web process still holding a transaction fails the restore cleanly.
    prelude.write_text("SET lock_timeout = '30s';\n" + "".join(
        f"DROP TABLE IF EXISTS {_ident(schema)}.{_ident(t)} CASCADE;\n" for t in extra))
    checks = "".join(
        f"  SELECT count(*) INTO found FROM {_ident(schema)}.{_ident(table)};\n"
        f"  IF found <> {int(rows)} THEN RAISE EXCEPTION 'restored % rows of %, the manifest "
        f"says {int(rows)}', found, {_literal(table)}; END IF;\n"
        for table, rows in sorted(manifest["tables"].items()))
    check = script.with_name("check.sql")
    check.write_text(f"DO $$\nDECLARE found bigint;\nBEGIN\n{checks}END $$;\n")
    _run([_tool("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction",
          "-f", str(prelude), "-f", str(script), "-f", str(check)], what=_("The restore"))


def pg_scratch_counts(*, path: Path, manifest: dict[str, Any],
                      progress: Progress) -> dict[str, int]:
    """Restores the dump into a scratch database, counts every table's rows, drops it."""
    name = settings.CHATLAB_BACKUP_DRILL_DATABASE_PREFIX + secrets.token_hex(4)
    schema = manifest.get("schema") or "public"
    with psycopg.connect(**_params(), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        progress(f"  pg_restore into the scratch database {name}")
        _run([_tool("pg_restore"), "--no-owner", "--no-acl", "--exit-on-error",
              "--single-transaction", str(path)], dbname=name, what=_("The scratch restore"))
        counts: dict[str, int] = {}
        with psycopg.connect(**_params(name), autocommit=True) as scratch:
            cursor = scratch.cursor()
            cursor.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
            for (table,) in cursor.execute(TABLES).fetchall():
                counts[table] = _count(cursor, schema, table)
                progress(f"  rows  {table}: {counts[table]}")
        return counts
    finally:
        with psycopg.connect(**_params(), autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))
