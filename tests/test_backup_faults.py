"""A restore refuses a backup it cannot trust, says why, and leaves the database and the media as
they were: truncated, corrupted or tampered files, an edited manifest, a wrong GPG key, a missing
file, a backup from a newer schema. A backup whose storage is full or unreachable is recorded,
logged as an error, and retried later with backoff."""

from __future__ import annotations

import errno
import gzip
import hashlib
import io
import json
import logging
import tarfile
from pathlib import Path

import pytest
from celery.canvas import Signature
from celery.exceptions import Retry
from django.core.files.storage import FileSystemStorage
from django.core.management import CommandError, call_command

from chatlab_site.ops.backups.create import backup_create
from chatlab_site.ops.backups.manifest import manifest_dump
from chatlab_site.ops.backups.naming import MANIFEST_SUFFIX
from chatlab_site.ops.models import BackupRun
from chatlab_site.ops.tasks import backup_scheduled
from tests.backup_support import (  # noqa: F401
    backup_dir, database_rows, keyrings, media_bytes, populate,
)
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def media_root(settings, tmp_path) -> Path:
    root = tmp_path / "media"
    (root / "images").mkdir(parents=True)
    (root / "images" / "a.png").write_bytes(b"\x89PNG first picture")
    (root / "images" / "b.png").write_bytes(b"\x89PNG second picture")
    settings.MEDIA_ROOT = str(root)
    return root


@pytest.fixture
def made(backup_dir, media_root) -> tuple[str, Path]:
    """A backup, then a change to the site that a refused restore must not undo."""
    populate(user_count=2)
    name = backup_create().name
    UserFactory(email="after-the-backup@example.com")
    (media_root / "images" / "a.png").write_bytes(b"changed since the backup")
    return name, backup_dir


def _refused(name: str, reason: str, media_root: Path) -> None:
    rows, media = database_rows(), media_bytes(media_root)
    with pytest.raises(CommandError) as refused:
        call_command("restore", name, "--noinput")
    assert reason in str(refused.value), refused.value
    assert "Nothing was changed" in str(refused.value)
    assert database_rows() == rows
    assert media_bytes(media_root) == media


def _part(folder: Path, name: str, kind: str) -> Path:
    return next(p for p in folder.iterdir() if p.name.startswith(f"{name}.{kind}"))


def test_a_truncated_file_is_refused(made, media_root):
    name, folder = made
    database = _part(folder, name, "db.")
    database.write_bytes(database.read_bytes()[: database.stat().st_size // 2])
    _refused(name, "truncated or replaced", media_root)


def test_a_corrupted_file_is_refused(made, media_root):
    name, folder = made
    database = _part(folder, name, "db.")
    data = bytearray(database.read_bytes())
    data[len(data) // 2] ^= 0xFF
    database.write_bytes(bytes(data))
    _refused(name, "does not match its SHA-256 checksum", media_root)


def test_a_tampered_file_with_a_matching_manifest_is_refused(made, media_root):
    """Someone swaps the media archive and rewrites the checksums: the signature gives it away."""
    name, folder = made
    archive = _part(folder, name, "media.")
    evil = io.BytesIO()
    with tarfile.open(fileobj=evil, mode="w") as tar:
        info = tarfile.TarInfo("images/a.png")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"evil"))
    archive.write_bytes(gzip.compress(evil.getvalue()))
    manifest_path = folder / (name + MANIFEST_SUFFIX)
    manifest = json.loads(manifest_path.read_text())

    manifest["files"]["media.tar.gz"].update(
        sha256=hashlib.sha256(archive.read_bytes()).hexdigest(), size=archive.stat().st_size)
    manifest_path.write_text(json.dumps(manifest))
    _refused(name, "does not carry a valid signature", media_root)


def test_an_edited_manifest_is_refused(made, media_root):
    name, folder = made
    manifest_path = folder / (name + MANIFEST_SUFFIX)
    edited = manifest_path.read_text().replace('"accounts_user": ', '"accounts_user": 1')
    manifest_path.write_text(edited)
    _refused(name, "does not carry a valid signature", media_root)
    manifest_path.write_text(manifest_path.read_text()[:50])
    _refused(name, "not valid JSON", media_root)


def test_a_missing_file_is_refused(made, media_root):
    name, folder = made
    _part(folder, name, "media.").unlink()
    _refused(name, "is missing from the backup storage", media_root)


def test_a_missing_backup_is_refused(made, media_root):
    _refused("chatlab-20200101-000000-000-m0001-00000000", "is missing", media_root)
    _refused("../../etc/passwd", "is not a backup name", media_root)


def test_a_wrong_gpg_key_is_refused(backup_dir, media_root, settings, keyrings):
    right, wrong = keyrings
    settings.CHATLAB_BACKUP_GPG_HOME, settings.CHATLAB_BACKUP_GPG_RECIPIENT = (
        right.home, right.fingerprint)
    populate(user_count=1)
    name = backup_create().name
    UserFactory()
    settings.CHATLAB_BACKUP_GPG_HOME = wrong.home  # another machine's keyring
    _refused(name, "Cannot decrypt", media_root)
    settings.CHATLAB_BACKUP_GPG_HOME = right.home
    call_command("restore", name, "--check")  # the right key reads it


def test_a_backup_from_a_newer_schema_is_refused(made, media_root):
    """A backup made by a newer Chatlab (a migration this code lacks), signed like a real one."""
    name, folder = made
    manifest_path = folder / (name + MANIFEST_SUFFIX)
    body = json.loads(manifest_path.read_text())
    body.pop("signature")
    body["migrations"]["conversations"].append("9999_from_the_future")
    manifest_path.write_bytes(manifest_dump(body))
    _refused(name, "comes from a newer schema", media_root)


def test_a_restore_needs_a_yes(made, media_root, monkeypatch, capsys):
    name, _folder = made
    rows = database_rows()
    monkeypatch.setattr("builtins.input", lambda prompt: "no")
    call_command("restore", name)
    assert "Restore cancelled" in capsys.readouterr().out
    assert database_rows() == rows


class FullStorage(FileSystemStorage):
    def _save(self, name, content):
        raise OSError(errno.ENOSPC, "No space left on device")


def _failing_task_run(caplog, monkeypatch, *, retries: int = 0) -> tuple[Retry, dict, BackupRun]:
    """Runs the task as a worker would (not eagerly), with the retry's re-send recorded instead
    of sent to a broker."""
    sent: list[dict] = []
    monkeypatch.setattr(Signature, "apply_async",
                        lambda self, *args, **kwargs: sent.append({**self.options, **kwargs}))
    backup_scheduled.push_request(id="backup-1", retries=retries, is_eager=False,
                                  called_directly=False)
    try:
        with caplog.at_level(logging.ERROR, logger="chatlab_site.ops.backups.runs"), \
                pytest.raises(Retry) as retry:
            backup_scheduled.run(trigger="schedule")
    finally:
        backup_scheduled.pop_request()
    run = BackupRun.objects.get()
    assert run.status == BackupRun.Status.FAILED and run.attempt == retries + 1
    assert any(r.levelno == logging.ERROR and "Backup failed" in r.getMessage()
               for r in caplog.records)
    assert len(sent) == 1
    return retry.value, sent[0], run


def test_a_full_storage_fails_visibly_and_retries_later(backup_dir, media_root, settings,
                                                        caplog, monkeypatch):
    settings.STORAGES = {**settings.STORAGES, "dbbackup": {
        "BACKEND": "tests.test_backup_faults.FullStorage",
        "OPTIONS": {"location": str(backup_dir)}}}
    retry, sent, run = _failing_task_run(caplog, monkeypatch)
    assert "storage full" in run.error
    assert retry.when == sent["countdown"] == 60  # a minute, then 2, 4, ... at most an hour
    assert not backup_dir.exists() or not list(backup_dir.iterdir())


def test_an_unreachable_bucket_fails_visibly_and_retries_later(backup_dir, media_root, settings,
                                                               caplog, monkeypatch):
    from tests.stack import free_port

    settings.STORAGES = {**settings.STORAGES, "dbbackup": {
        "BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {
            "bucket_name": "nowhere", "endpoint_url": f"http://127.0.0.1:{free_port()}",
            "access_key": "k", "secret_key": "s", "region_name": "us-east-1",
            "file_overwrite": False}}}
    retry, sent, run = _failing_task_run(caplog, monkeypatch, retries=2)
    assert "Backup storage unavailable" in run.error
    assert retry.when == sent["countdown"] == 240
