"""The full round trip on whichever database the suite runs on (SQLite here, PostgreSQL with
DATABASE_URL; `make test` runs this file on both): a site with users, conversations, images,
bots, providers and a row in every other model -> backup (encrypted) -> every table dropped and
the media deleted -> restore -> every table's rows and every media file identical."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.core.management import call_command

from chatlab_site.ops.backups.create import backup_create
from chatlab_site.ops.backups.naming import MANIFEST_SUFFIX
from chatlab_site.ops.backups.storage import manifest_read
from conversations.models import Provider
from imaging.models import GeneratedImage, ImageJob
from imaging.services import image_job_create
from tests.backup_support import (  # noqa: F401
    backup_dir, database_rows, database_wipe, keyrings, media_bytes, populate,
)
from tests.factories import UserFactory
from tests.images_support import _images_inline, demo_images  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_site_survives_backup_wipe_and_restore(backup_dir, demo_images, settings, keyrings,
                                                 capsys):
    right, _wrong = keyrings
    settings.CHATLAB_BACKUP_GPG_HOME = right.home
    settings.CHATLAB_BACKUP_GPG_RECIPIENT = right.fingerprint
    artist = UserFactory()
    job = image_job_create(user=artist, prompt="a lighthouse", count=2)
    job.refresh_from_db()
    assert job.status == "done", job.error
    site = populate()  # after the job: its generic rows may restrict who the image model serves
    media_root = Path(settings.MEDIA_ROOT)
    media_before = media_bytes(media_root)
    assert len(media_before) == 4  # two pictures and their thumbnails
    rows_before = database_rows()
    empty = sorted(t for t, rows in rows_before.items() if not rows)
    # Every app's tables take part; a model the generic filler cannot make stays empty, and
    # that list is short.
    assert len(empty) <= 4, empty
    for table in ("accounts_user", "conversations_message", "conversations_provider",
                  "imaging_imagejob", "imaging_generatedimage", "ops_retentionpolicy"):
        assert rows_before[table], table

    call_command("backup")
    out = capsys.readouterr().out
    assert "[1/4] database" in out and "rows  conversations_message: 6" in out
    assert "media images/" in out or "media " in out
    name = next(p.name for p in backup_dir.iterdir() if p.name.endswith(MANIFEST_SUFFIX))
    name = name[: -len(MANIFEST_SUFFIX)]
    manifest = manifest_read(name)
    assert manifest["encrypted"] and manifest["gpg_fingerprint"] == right.fingerprint
    assert sorted(manifest["media"]) == sorted(media_before)
    assert manifest["tables"]["conversations_message"] == 6
    # Nothing readable in the stored files: GPG packets, not gzip or SQLite.
    for part in manifest["files"]:
        # gzip inside, except PostgreSQL's dump, which pg_dump compressed already (issue #20).
        assert part.endswith((".gz.gpg", ".psql.bin.gpg"))
        assert not (backup_dir / f"{name}.{part}").read_bytes().startswith(b"\x1f\x8b")

    # The backup run recorded itself after the dump: the dump does not hold its own record.
    rows_before_restore = database_rows()
    database_wipe()
    shutil.rmtree(media_root)

    call_command("restore", "--latest", "--noinput")
    out = capsys.readouterr().out
    assert "sha256 ok" in out and "[4/5] restore the database" in out
    assert "conversations_message: - -> 6" in out  # the table did not exist before
    rows_after = database_rows()
    assert rows_after.keys() == rows_before.keys()
    for table, rows in rows_before.items():
        assert rows_after[table] == rows, table
    assert len(rows_before_restore["ops_backuprun"]) == len(rows_after["ops_backuprun"]) + 1
    assert media_bytes(media_root) == media_before
    # Secrets encrypted under SECRET_KEY still decrypt, images still belong to their job.
    assert Provider.objects.get(pk=site["provider"].pk).api_key == "sk-backup-secret"
    assert GeneratedImage.objects.filter(job=ImageJob.objects.get(pk=job.pk)).count() == 2


def test_a_plain_backup_restores_over_a_changed_database(backup_dir, settings):
    """Without a key the files are only compressed; a restore over live data (not a wiped
    database) puts back the backup's rows and removes the rows made since."""
    populate(user_count=2)
    result = backup_create(include_media=False)
    assert not result.encrypted and result.media_files == 0
    before = database_rows()
    populate(user_count=1)
    assert database_rows() != before
    call_command("restore", result.name, "--noinput")
    assert database_rows() == before


def test_a_backup_from_an_older_schema_is_restored_then_migrated(backup_dir, settings, capsys):
    """Made before the last ops migration ran (as by an older Chatlab), restored by this code:
    the rows come back as they were, then migrate brings the schema up to date."""
    from django.db.migrations.recorder import MigrationRecorder
    from django_celery_beat.models import PeriodicTask

    call_command("migrate", "ops", "0001", verbosity=0)
    populate(user_count=1)
    name = backup_create(include_media=False).name
    manifest = manifest_read(name)
    assert "0002_backup_schedule" not in manifest["migrations"]["ops"]
    call_command("migrate", "ops", verbosity=0)
    database_wipe()

    call_command("restore", name, "--noinput")
    out = capsys.readouterr().out
    assert "older than this code" in out and "migrations applied on top" in out
    applied = MigrationRecorder.Migration.objects.filter(app="ops").values_list("name", flat=True)
    assert "0002_backup_schedule" in set(applied)
    assert PeriodicTask.objects.filter(task="chatlab_site.ops.tasks.backup_scheduled").exists()
