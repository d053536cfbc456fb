"""Backups: where they go (a folder, or an S3-compatible bucket), GPG encryption, the drill.

The schedule (daily backup, restore drill) and the retention policy live in the database and are
edited in the admin; the data migration chatlab_site/ops/migrations/0002 sets their defaults.
"""

from __future__ import annotations

from chatlab_site import env

from .base import DATA_DIR
from .storage import STORAGES  # media's (S3 when configured), to which the backups' own is added
from .services import CELERY_TASK_ROUTES

# A storage of their own, never the media one: losing the media bucket must not lose its backups.
CHATLAB_BACKUP_DIR = env.string("CHATLAB_BACKUP_DIR", str(DATA_DIR / "backups"))
CHATLAB_BACKUP_S3_BUCKET = env.string("CHATLAB_BACKUP_S3_BUCKET").strip()
if CHATLAB_BACKUP_S3_BUCKET:
    _addressing = env.choice("CHATLAB_BACKUP_S3_ADDRESSING_STYLE", ("auto", "path", "virtual"),
                             "auto")
    _backup_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": CHATLAB_BACKUP_S3_BUCKET,
            "location": env.string("CHATLAB_BACKUP_S3_PREFIX", "backups").strip("/"),
            "endpoint_url": env.url("CHATLAB_BACKUP_S3_ENDPOINT_URL", schemes=("http", "https"))
            or None,
            "access_key": env.string("CHATLAB_BACKUP_S3_ACCESS_KEY_ID") or None,
            "secret_key": env.string("CHATLAB_BACKUP_S3_SECRET_ACCESS_KEY") or None,
            "region_name": env.string("CHATLAB_BACKUP_S3_REGION") or None,
            "addressing_style": _addressing if _addressing != "auto" else None,
            "signature_version": "s3v4",
            "default_acl": None,
            "querystring_auth": True,
            # A name is never reused: a second file under it is a bug to report, not to rename.
            "file_overwrite": False,
        },
    }
else:
    _backup_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": CHATLAB_BACKUP_DIR, "base_url": None,
                    "file_permissions_mode": 0o600, "directory_permissions_mode": 0o700},
    }
# django-dbbackup reads the "dbbackup" alias too.
STORAGES = {**STORAGES, "dbbackup": _backup_storage}

# GPG: backups are encrypted to this key (fingerprint, key id or e-mail) when it is set. The
# machine that makes backups needs only the public key; restores and drills need the secret one.
CHATLAB_BACKUP_GPG_RECIPIENT = env.string("CHATLAB_BACKUP_GPG_RECIPIENT").strip()
CHATLAB_BACKUP_GPG_HOME = env.string("CHATLAB_BACKUP_GPG_HOME").strip()
CHATLAB_BACKUP_GPG_PASSPHRASE = env.string("CHATLAB_BACKUP_GPG_PASSPHRASE")
DBBACKUP_GPG_RECIPIENT = CHATLAB_BACKUP_GPG_RECIPIENT or None
# The operator named the key; gpg would otherwise refuse an imported key nobody signed.
DBBACKUP_GPG_ALWAYS_TRUST = True

# Include the media files (images) in every backup.
CHATLAB_BACKUP_MEDIA = env.boolean("CHATLAB_BACKUP_MEDIA", True)
# The drill restores into a scratch database named with this prefix (PostgreSQL: the role needs
# CREATEDB); SQLite drills use a temporary file.
CHATLAB_BACKUP_DRILL_DATABASE_PREFIX = env.string("CHATLAB_BACKUP_DRILL_DATABASE_PREFIX",
                                                  "chatlab_drill_")
# pg_dump, pg_restore and psql, when they are not on PATH (they must match the server's version).
CHATLAB_BACKUP_PG_BIN = env.string("CHATLAB_BACKUP_PG_BIN").strip()

CELERY_TASK_ROUTES = {**CELERY_TASK_ROUTES, "chatlab_site.ops.tasks.*": {"queue": "maintenance"}}
