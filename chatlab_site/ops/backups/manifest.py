"""The manifest: what a backup holds and how to tell it is intact.

It lists every stored file with its size and SHA-256, every media file with its SHA-256, the row
count of every table and the migrations applied, and is signed with an HMAC keyed from
SECRET_KEY (or a key in CHATLAB_ENCRYPTION_KEYS), so a manifest edited to match a tampered file
is refused too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import IO, Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.utils.translation import gettext as _

from .errors import BackupRefused

FORMAT = 1
CHUNK = 1024 * 1024
REQUIRED = ("format", "name", "created_at", "vendor", "migrations", "tables", "files", "media",
            "database_file", "encrypted")


def sha256_of(stream: IO[bytes]) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    while chunk := stream.read(CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def _key(secret: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"chatlab",
                info=b"backup-manifest").derive(secret.encode())


def _canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def manifest_dump(body: dict[str, Any]) -> bytes:
    signature = hmac.new(_key(settings.SECRET_KEY), _canonical(body), hashlib.sha256).hexdigest()
    return json.dumps({**body, "signature": signature}, indent=1, sort_keys=True).encode()


def manifest_load(raw: bytes, *, name: str) -> dict[str, Any]:
    """The manifest's body once its form and signature check out; BackupRefused otherwise."""
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BackupRefused(_("The manifest of %(name)s is not valid JSON (truncated or "
                              "corrupted).") % {"name": name}) from None
    if not isinstance(data, dict) or any(key not in data for key in (*REQUIRED, "signature")):
        raise BackupRefused(_("The manifest of %(name)s lacks required fields.") % {"name": name})
    signature = data.pop("signature")
    canonical = _canonical(data)
    secrets = [settings.SECRET_KEY, *settings.ENCRYPTION_KEYS]
    if not any(hmac.compare_digest(str(signature), hmac.new(
            _key(secret), canonical, hashlib.sha256).hexdigest()) for secret in secrets):
        raise BackupRefused(_(
            "The manifest of %(name)s does not carry a valid signature: it was altered, or made "
            "by an installation with another SECRET_KEY (put that key in "
            "CHATLAB_ENCRYPTION_KEYS).") % {"name": name})
    if data["format"] != FORMAT or data["name"] != name:
        raise BackupRefused(_("The manifest of %(name)s is of an unknown format or names another "
                              "backup.") % {"name": name})
    return data
