"""Images in an S3-compatible store: moto's S3 server on a free port stands in for AWS, MinIO or
Ceph. Files land in the private bucket under server-made names; the owner is redirected to a
short-lived signed URL that works; nobody else learns the URL; deletes remove the objects."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import boto3
import httpx
import pytest
from django.test import Client
from moto.server import ThreadedMotoServer

from imaging.models import GeneratedImage
from imaging.services import image_job_create
from tests.images_support import _images_inline, demo_images, picture  # noqa: F401
from tests.stack import free_port

ROOT = Path(__file__).resolve().parent.parent
BUCKET = "chatlab-media"
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
def s3(s3_server, settings):
    client = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1", **KEYS)
    client.create_bucket(Bucket=BUCKET)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {
            "bucket_name": BUCKET, "endpoint_url": s3_server, "region_name": "us-east-1",
            "access_key": KEYS["aws_access_key_id"], "secret_key": KEYS["aws_secret_access_key"],
            "addressing_style": "path", "signature_version": "s3v4", "custom_domain": None,
            "querystring_auth": True, "querystring_expire": 120, "default_acl": None,
            "file_overwrite": False,
        }},
    }
    yield client
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)


@pytest.mark.django_db
def test_images_go_to_the_bucket_and_the_owner_gets_a_signed_url(logged_in, user, s3, demo_images,
                                                                other_user):
    job = image_job_create(user=user, prompt="a lighthouse", count=2)
    job.refresh_from_db()
    assert job.status == "done", job.error
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"])
    images = list(GeneratedImage.objects.filter(job=job))
    assert keys == sorted([i.file for i in images] + [i.thumbnail for i in images])
    body = s3.get_object(Bucket=BUCKET, Key=images[0].file)["Body"].read()
    assert picture(body).size == (512, 512)

    response = logged_in.get(f"/images/{images[0].pk}/file/?download=1")
    assert response.status_code == 302
    signed = response["Location"]
    query = parse_qs(urlsplit(signed).query)
    assert query["X-Amz-Expires"] == ["120"] and "X-Amz-Signature" in query
    assert "attachment" in query["response-content-disposition"][0]
    fetched = httpx.get(signed)
    assert fetched.status_code == 200 and picture(fetched.content).size == (512, 512)
    assert "attachment" in fetched.headers["content-disposition"]
    api = logged_in.get(f"/api/v1/images/{images[0].pk}/file/?thumbnail=1")
    assert api.status_code == 302 and images[0].thumbnail in api["Location"]
    assert httpx.get(api["Location"]).status_code == 200

    # Someone else: 404 on every door, and no signed URL ever.
    client = Client()
    client.force_login(other_user)
    for path in (f"/images/{images[0].pk}/file/", f"/api/v1/images/{images[0].pk}/file/",
                 f"/media/{images[0].file}"):
        answer = client.get(path)
        assert answer.status_code == 404 and "Location" not in answer

    assert logged_in.delete(f"/api/v1/images/{images[0].pk}/").status_code == 204
    left = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"])
    assert left == sorted([images[1].file, images[1].thumbnail])


def test_the_settings_switch_to_s3_from_the_environment(tmp_path):
    secret = tmp_path / "s3-secret"
    secret.write_text("from-a-file\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("S3_", "CHATLAB_"))}
    env.update({"S3_BUCKET": "media", "S3_ENDPOINT_URL": "https://minio.example.com:9000",
                "S3_ACCESS_KEY_ID": "key", "S3_SECRET_ACCESS_KEY_FILE": str(secret),
                "S3_REGION": "eu-west-1", "S3_ADDRESSING_STYLE": "path",
                "CHATLAB_MEDIA_URL_SECONDS": "60", "CHATLAB_DATA_DIR": str(tmp_path),
                "DJANGO_SETTINGS_MODULE": "chatlab_site.settings"})
    code = ("import json; from django.conf import settings; "
            "print(json.dumps(settings.STORAGES['default']))")
    result = subprocess.run([sys.executable, "-c", f"import django; django.setup(); {code}"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    default = json.loads(result.stdout.strip().splitlines()[-1])
    assert default["BACKEND"] == "storages.backends.s3.S3Storage"
    options = default["OPTIONS"]
    assert options["bucket_name"] == "media" and options["secret_key"] == "from-a-file"
    assert options["endpoint_url"] == "https://minio.example.com:9000"
    assert options["addressing_style"] == "path" and options["querystring_expire"] == 60
    assert options["custom_domain"] is None and options["querystring_auth"] is True
    env["S3_ADDRESSING_STYLE"] = "sideways"
    bad = subprocess.run([sys.executable, "-c", "import django; django.setup()"], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "S3_ADDRESSING_STYLE" in bad.stderr
