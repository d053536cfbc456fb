"""Backups in an S3-compatible bucket (moto's S3 server on a free port stands in for AWS, MinIO,
Ceph): written under the prefix, listed, verified, drilled, restored and pruned through the same
storage API as the local folder; the settings build that storage from CHATLAB_BACKUP_S3_*."""

from __future__ import annotations

import importlib
from collections.abc import Iterator

import boto3
import pytest
from django.core.management import call_command
from moto.server import ThreadedMotoServer

from chatlab_site.ops.backups.create import backup_create
from chatlab_site.ops.backups.drill import drill_run
from chatlab_site.ops.backups.storage import backup_names, manifest_read
from chatlab_site.ops.models import DrillRun
from tests.backup_support import database_rows, media_bytes, populate
from tests.stack import free_port

BUCKET = "chatlab-backups"
KEYS = {"aws_access_key_id": "testing-key", "aws_secret_access_key": "testing-secret"}


@pytest.fixture(scope="module")
def s3_server() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def bucket(s3_server, settings, tmp_path):
    client = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1", **KEYS)
    client.create_bucket(Bucket=BUCKET)
    settings.STORAGES = {**settings.STORAGES, "dbbackup": {
        "BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {
            "bucket_name": BUCKET, "location": "nightly", "endpoint_url": s3_server,
            "region_name": "us-east-1", "access_key": KEYS["aws_access_key_id"],
            "secret_key": KEYS["aws_secret_access_key"], "addressing_style": "path",
            "signature_version": "s3v4", "default_acl": None, "file_overwrite": False}}}
    settings.CHATLAB_BACKUP_GPG_RECIPIENT = ""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    (tmp_path / "media" / "images").mkdir(parents=True)
    (tmp_path / "media" / "images" / "kept.png").write_bytes(b"\x89PNG kept")
    yield client
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)


@pytest.mark.django_db(transaction=True)
def test_backups_go_to_the_bucket_and_come_back(bucket, settings, tmp_path):
    populate(user_count=2)
    result = backup_create()
    keys = sorted(o["Key"] for o in bucket.list_objects_v2(Bucket=BUCKET)["Contents"])
    parts = sorted(["manifest.json", "media.tar.gz", *manifest_read(result.name)["files"]])
    assert keys == sorted({f"nightly/{result.name}.{part}" for part in parts})
    assert any(key.endswith((".db.sqlite3.gz", ".db.psql.bin")) for key in keys)
    assert backup_names() == [result.name]
    rows, media = database_rows(), media_bytes(tmp_path / "media")
    assert drill_run().status == DrillRun.Status.OK
    populate(user_count=1)
    (tmp_path / "media" / "images" / "kept.png").unlink()
    call_command("restore", "--latest", "--noinput")
    assert database_rows() == rows
    assert media_bytes(tmp_path / "media") == media


def test_the_settings_build_the_bucket_storage_from_the_environment(monkeypatch):
    from chatlab_site.settings import backups

    for name, value in {"CHATLAB_BACKUP_S3_BUCKET": "team-backups",
                        "CHATLAB_BACKUP_S3_ENDPOINT_URL": "https://minio.example.com:9000",
                        "CHATLAB_BACKUP_S3_ADDRESSING_STYLE": "path",
                        "CHATLAB_BACKUP_S3_PREFIX": "/chat/",
                        "CHATLAB_BACKUP_S3_ACCESS_KEY_ID": "id",
                        "CHATLAB_BACKUP_S3_SECRET_ACCESS_KEY": "key"}.items():
        monkeypatch.setenv(name, value)
    try:
        storage = importlib.reload(backups).STORAGES["dbbackup"]
    finally:
        monkeypatch.undo()
        importlib.reload(backups)
    assert storage["BACKEND"] == "storages.backends.s3.S3Storage"
    options = storage["OPTIONS"]
    assert options["bucket_name"] == "team-backups" and options["location"] == "chat"
    assert options["endpoint_url"] == "https://minio.example.com:9000"
    assert options["addressing_style"] == "path" and options["file_overwrite"] is False
    assert options["access_key"] == "id" and options["secret_key"] == "key"
    # Unset, backups go to the local folder.
    assert backups.STORAGES["dbbackup"]["BACKEND"].endswith("FileSystemStorage")
