"""Issue #20: pg_dump's custom format is compressed already, so the dump is stored as it is (no
second gzip); backups made before that (every part gzipped) still restore; the restore command
reports its time per step and names the longest."""

from __future__ import annotations

import gzip
import hashlib
import shutil

import pytest
from django.core.management import call_command
from django.db import connection

from chatlab_site.ops.backups.create import backup_create
from chatlab_site.ops.backups.drill import drill_run
from chatlab_site.ops.backups.manifest import manifest_dump
from chatlab_site.ops.backups.naming import MANIFEST_SUFFIX
from chatlab_site.ops.backups.storage import manifest_read
from chatlab_site.ops.models import DrillRun
from tests.backup_support import backup_dir  # noqa: F401
from tests.conftest import require
from tests.factories import ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def postgres():
    require(connection.vendor == "postgresql", "needs PostgreSQL (DATABASE_URL=postgres://...)")


@pytest.fixture
def made(backup_dir, settings, tmp_path):  # noqa: F811
    settings.MEDIA_ROOT = str(tmp_path / "media")
    MessageFactory(conversation=ConversationFactory(), content="kept through the backup")
    return backup_create().name


def as_made_before_issue_20(folder, name: str) -> None:
    """Rewrites a backup as the old code wrote it: every part gzipped, no per-file compression."""
    manifest = manifest_read(name)
    manifest.pop("signature", None)
    files = {}
    for part, meta in manifest["files"].items():
        meta = {k: v for k, v in meta.items() if k != "compression"}
        if not part.endswith(".gz"):
            source, target = folder / f"{name}.{part}", folder / f"{name}.{part}.gz"
            with source.open("rb") as plain, gzip.open(target, "wb") as packed:
                shutil.copyfileobj(plain, packed)
            source.unlink()
            data = target.read_bytes()
            meta.update(sha256=hashlib.sha256(data).hexdigest(), size=len(data))
            if manifest["database_file"] == part:
                manifest["database_file"] = part + ".gz"
            part += ".gz"
        files[part] = meta
    manifest.update(files=files, compression="gzip")
    (folder / (name + MANIFEST_SUFFIX)).write_bytes(manifest_dump(manifest))


def test_the_postgres_dump_is_stored_as_pg_dump_compressed_it(
        postgres, made, backup_dir):  # noqa: F811
    manifest = manifest_read(made)
    part = manifest["database_file"]
    assert part == "db.psql.bin" and manifest["files"][part]["compression"] == "none"
    assert (backup_dir / f"{made}.{part}").read_bytes()[:5] == b"PGDMP"  # not gzip's 1f 8b
    assert manifest["files"]["media.tar.gz"]["compression"] == "gzip"
    drill = drill_run(name=made)
    assert drill.status == DrillRun.Status.OK, drill.detail


def test_a_backup_gzipped_whole_by_older_code_still_restores(
        postgres, made, backup_dir):  # noqa: F811
    as_made_before_issue_20(backup_dir, made)
    assert "db.psql.bin.gz" in manifest_read(made)["files"]
    drill = drill_run(name=made)
    assert drill.status == DrillRun.Status.OK, drill.detail


def test_a_part_the_manifest_calls_gzip_but_is_not_is_refused(made, backup_dir):  # noqa: F811
    manifest = manifest_read(made)
    manifest.pop("signature", None)
    part = manifest["media_file"]
    (backup_dir / f"{made}.{part}").write_bytes(b"not gzip at all")
    manifest["files"][part].update(sha256=hashlib.sha256(b"not gzip at all").hexdigest(), size=15)
    (backup_dir / (made + MANIFEST_SUFFIX)).write_bytes(manifest_dump(manifest))
    drill = drill_run(name=made)
    assert drill.status == DrillRun.Status.FAILED and "compressed" in drill.detail


def test_the_restore_command_reports_its_time_per_step(made, capsys):
    call_command("restore", made, "--noinput")
    out = capsys.readouterr().out
    assert "time per step:" in out and "[4/5] restore the database" in out
    summary = next(line for line in out.splitlines() if line.startswith("took "))
    assert "the longest step: [" in summary
