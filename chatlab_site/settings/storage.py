"""Media storage and image generation: local disk unless S3_BUCKET names a bucket."""

from __future__ import annotations

from chatlab_site import env

from .base import STORAGES

# Any S3-compatible store (AWS S3, MinIO, Ceph, R2, ...). The bucket stays private: files are
# served through views that check the owner, which answer with short-lived signed URLs.
S3_BUCKET = env.string("S3_BUCKET").strip()
if S3_BUCKET:
    # MinIO and most self-hosted stores want "path"; AWS picks its own with "auto".
    _addressing = env.choice("S3_ADDRESSING_STYLE", ("auto", "path", "virtual"), "auto")
    STORAGES = {
        **STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": S3_BUCKET,
                "endpoint_url": env.url("S3_ENDPOINT_URL", schemes=("http", "https")) or None,
                "access_key": env.string("S3_ACCESS_KEY_ID") or None,
                "secret_key": env.string("S3_SECRET_ACCESS_KEY") or None,
                "region_name": env.string("S3_REGION") or None,
                "addressing_style": _addressing if _addressing != "auto" else None,
                "signature_version": "s3v4",
                "custom_domain": None,
                "querystring_auth": True,
                "querystring_expire": env.integer("CHATLAB_MEDIA_URL_SECONDS", 300, minimum=10),
                "default_acl": None,
                "file_overwrite": False,
            },
        },
    }

# Image generation limits.
CHATLAB_IMAGE_PROMPT_CHARS = env.integer("CHATLAB_IMAGE_PROMPT_CHARS", 4000, minimum=1)
CHATLAB_IMAGE_TIMEOUT = env.integer("CHATLAB_IMAGE_TIMEOUT", 180, minimum=5)
CHATLAB_IMAGE_MAX_BYTES = env.integer("CHATLAB_IMAGE_MAX_BYTES", 25_000_000, minimum=1000)

# Hosts an image URL from a provider may point to even though they resolve to a private,
# loopback or link-local address. Empty in every deployment: tests set it to prove a permitted
# fetch works. Not read from the environment on purpose.
IMAGING_FETCH_PRIVATE_HOSTS: list[str] = []
# In the embedded mode (tasks run in-process) a job runs on a background thread so the request
# or socket that asked is not held up; tests switch this off to run jobs inline.
IMAGING_EAGER_IN_THREAD = True
