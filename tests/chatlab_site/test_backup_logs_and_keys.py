"""Backups hold the log files and what a restore needs besides them: the SECRET_KEY's
fingerprint (never the key), the environment's settings (names; values only when harmless) and
the version; `restore --check` says when this installation's key cannot decrypt the backup."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from chatlab_site import crypto
from chatlab_site.ops.backups.create import backup_create
from chatlab_site.ops.backups.naming import MANIFEST_SUFFIX
from chatlab_site.ops.backups.restore_needs import KEY_PROBE, key_fingerprint, key_report
from tests.backup_support import backup_dir, populate  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

OTHER_KEY = "another-installation-" + "Zq8Lw3Nx7Rb2Vm5Kc9Ht4Jp6Yd1Gs0Fe" * 2


@pytest.fixture
def media_root(settings, tmp_path) -> Path:
    root = tmp_path / "media"
    (root / "images").mkdir(parents=True)
    (root / "images" / "a.png").write_bytes(b"\x89PNG picture")
    settings.MEDIA_ROOT = str(root)
    return root


@pytest.fixture
def log_file(settings, tmp_path) -> Path:
    folder = tmp_path / "data" / "logs"
    folder.mkdir(parents=True)
    settings.DATA_DIR = tmp_path / "data"
    settings.CHATLAB_LOG_FILE = folder / "chatlab.log"
    (folder / "chatlab.log").write_text("2026-03-01 INFO newest line\n")
    (folder / "chatlab.log.1").write_text("2026-02-28 ERROR older line\n")
    (folder / "chatlab.log.tmp-notes").write_text("not a log file")
    (folder / "other.log").write_text("another program's log")
    return folder / "chatlab.log"


def _manifest(folder: Path, name: str) -> dict:
    return json.loads((folder / (name + MANIFEST_SUFFIX)).read_bytes())


def _call(*args: str) -> str:
    import io

    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_a_backup_holds_the_log_files_and_a_restore_puts_them_beside_the_live_ones(
        backup_dir, media_root, log_file):
    populate(user_count=1)
    result = backup_create()
    assert result.log_files == 2
    manifest = _manifest(backup_dir, result.name)
    assert sorted(manifest["logs"]) == ["chatlab.log", "chatlab.log.1"]
    assert manifest["logs_file"] == "logs.tar.gz"

    log_file.write_text("written after the backup\n")
    checked = _call("restore", result.name, "--check")
    assert "logs  2 files" in checked and "is intact" in checked

    restored = _call("restore", result.name, "--noinput")
    folder = log_file.parent.parent / "restored-logs" / result.name
    assert f"log files are in {folder}" in restored
    assert (folder / "chatlab.log").read_text() == "2026-03-01 INFO newest line\n"
    assert (folder / "chatlab.log.1").read_text() == "2026-02-28 ERROR older line\n"
    assert sorted(p.name for p in folder.iterdir()) == ["chatlab.log", "chatlab.log.1"]
    assert log_file.read_text() == "written after the backup\n"  # the live file is left alone


def test_a_tampered_log_archive_is_refused(backup_dir, media_root, log_file, settings):
    result = backup_create()
    manifest = _manifest(backup_dir, result.name)
    manifest["logs"]["chatlab.log"]["sha256"] = "0" * 64
    manifest.pop("signature")
    from chatlab_site.ops.backups.manifest import manifest_dump

    (backup_dir / (result.name + MANIFEST_SUFFIX)).write_bytes(manifest_dump(manifest))
    with pytest.raises(CommandError, match="log file chatlab.log does not match its checksum"):
        call_command("restore", result.name, "--check")


def test_without_a_log_file_the_backup_is_as_before(backup_dir, media_root, settings):
    settings.CHATLAB_LOG_FILE = None
    result = backup_create()
    manifest = _manifest(backup_dir, result.name)
    assert manifest["logs"] == {} and manifest["logs_file"] is None
    assert result.log_files == 0


def test_the_manifest_records_the_key_fingerprint_and_the_settings_never_a_secret(
        backup_dir, media_root, settings, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://chatlab:db-pass-123@db.internal:5432/chat"
                                       "?password=db-pass-456")
    monkeypatch.setenv("LANGUAGE_CODE", "ru")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-live-abcdefghijklmnop")
    monkeypatch.setenv("CHATLAB_BACKUP_S3_SECRET_ACCESS_KEY", "s3-secret-value")
    monkeypatch.setenv("CHATLAB_TRASH_RETENTION_DAYS", "45")
    monkeypatch.setenv("CHATLAB_WEBHOOK_URL", "https://hook:hook-pass@example.com/x")
    monkeypatch.setenv("CHATLAB_BACKUP_GPG_PASSPHRASE", "true")
    result = backup_create()
    raw = (backup_dir / (result.name + MANIFEST_SUFFIX)).read_text()
    for secret in ("db-pass-123", "db-pass-456", "sk-live-abcdefghijklmnop", "s3-secret-value",
                   "hook-pass", settings.SECRET_KEY):
        assert secret not in raw
    manifest = json.loads(raw)
    expected = hmac.new(settings.SECRET_KEY.encode(), b"chatlab backup: SECRET_KEY fingerprint",
                        hashlib.sha256).hexdigest()[:16]
    assert manifest["secret_key_fingerprint"] == expected
    environment = manifest["environment"]
    assert environment["DATABASE_URL"] == "postgres://[redacted]@db.internal:5432/chat"
    assert environment["LANGUAGE_CODE"] == "ru"
    assert environment["OPENAI_API_KEY"] is None
    assert environment["CHATLAB_BACKUP_S3_SECRET_ACCESS_KEY"] is None
    assert environment["CHATLAB_TRASH_RETENTION_DAYS"] == "45"
    assert environment["CHATLAB_WEBHOOK_URL"] is None
    assert environment["CHATLAB_BACKUP_GPG_PASSPHRASE"] is None  # a secret by its name
    assert "SECRET_KEY" in environment and environment["SECRET_KEY"] is None
    assert manifest["version"] and manifest["migration_state"]
    assert crypto.decrypt(manifest["key_probe"]) == KEY_PROBE

    monkeypatch.delenv("LANGUAGE_CODE")
    monkeypatch.setenv("CHATLAB_TRASH_RETENTION_DAYS", "10")
    checked = _call("restore", result.name, "--check")
    assert "SECRET_KEY: fingerprint " + expected in checked
    assert "Set then, not set now: LANGUAGE_CODE" in checked
    assert "Set to another value now: CHATLAB_TRASH_RETENTION_DAYS" in checked
    assert "  OPENAI_API_KEY\n" in checked


def test_check_says_when_this_secret_key_cannot_decrypt_the_backup(
        backup_dir, media_root, settings):
    populate(user_count=1)
    made_with = settings.SECRET_KEY
    name = backup_create().name
    settings.SECRET_KEY, settings.ENCRYPTION_KEYS = OTHER_KEY, []
    with pytest.raises(CommandError) as refused:
        call_command("restore", name, "--check")
    message = str(refused.value)
    assert "SECRET_KEY differs" in message
    assert key_fingerprint(made_with) in message and key_fingerprint(OTHER_KEY) in message
    assert "cannot be decrypted" in message and made_with not in message

    # The old key kept for rotation: the check passes and says which key it takes.
    settings.ENCRYPTION_KEYS = [made_with]
    checked = _call("restore", name, "--check")
    assert "one in CHATLAB_ENCRYPTION_KEYS" in checked
    assert "decrypts with the current keys" in checked


def test_a_probe_the_current_keys_cannot_decrypt_is_reported(settings):
    settings.SECRET_KEY = OTHER_KEY
    probe = crypto.encrypt(KEY_PROBE)
    settings.SECRET_KEY = "this-installation-" + "Pk2Wn8Qs4Lx6Tb1Mv9Hc3Jr7Ye5Fd0Ga" * 2
    usable, lines = key_report({"secret_key_fingerprint": key_fingerprint(settings.SECRET_KEY),
                                "key_probe": probe})
    assert not usable and "does NOT decrypt" in lines[-1]
