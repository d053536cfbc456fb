"""What a restore needs besides the backup, recorded in its manifest and checked by
`restore --check`: which SECRET_KEY made it (a fingerprint, never the key), a value encrypted the
way provider API keys and integration tokens are (so a check can try to decrypt it), which
environment variables were set (names; values only for harmless settings) and the version.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from importlib import metadata
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings

from chatlab_site import crypto, env

from .errors import BackupError
from .naming import MANIFEST_SUFFIX, is_backup_name
from .storage import storage_open

FINGERPRINT_LABEL = b"chatlab backup: SECRET_KEY fingerprint"
KEY_PROBE = "chatlab backup key probe"
# Settings whose value helps a restore and holds nothing secret (URLs lose their credentials).
HARMLESS = frozenset({
    "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS", "SITE_URL", "LANGUAGE_CODE", "TIME_ZONE", "LOG_LEVEL",
    "DEBUG", "DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "MEDIA_ROOT", "STATIC_ROOT",
    "S3_BUCKET", "S3_ENDPOINT_URL", "S3_REGION", "OPENAI_BASE_URL", "OPENAI_MODEL",
    "CHATLAB_DATA_DIR", "CHATLAB_LOG_FORMAT", "CHATLAB_LOG_FILE", "CHATLAB_BACKUP_DIR",
    "CHATLAB_BACKUP_S3_BUCKET", "CHATLAB_BACKUP_S3_PREFIX", "CHATLAB_BACKUP_S3_REGION",
    "CHATLAB_BACKUP_S3_ENDPOINT_URL", "CHATLAB_BACKUP_S3_ADDRESSING_STYLE",
    "CHATLAB_BACKUP_GPG_RECIPIENT", "CHATLAB_BACKUP_GPG_HOME", "CHATLAB_BACKUP_PG_BIN",
})
# Whatever the allow-list says, a name like these never has its value written down.
SECRET_NAME = re.compile(r"KEY|SECRET|PASSWORD|PASSPHRASE|PASSWD|TOKEN|CREDENTIAL|AUTH|COOKIE",
                         re.IGNORECASE)
PLAIN_VALUE = re.compile(r"(?i)-?\d+(\.\d+)?|true|false|yes|no|on|off")


def key_fingerprint(secret: str) -> str:
    """HMAC-SHA256 of a fixed label keyed by the key: tells keys apart, reveals nothing."""
    return hmac.new(secret.encode(), FINGERPRINT_LABEL, hashlib.sha256).hexdigest()[:16]


def _without_credentials(value: str) -> str:
    parts = urlsplit(value)
    if not parts.scheme or not parts.netloc:
        return value
    host = parts.netloc.rsplit("@", 1)[-1]
    netloc = f"[redacted]@{host}" if "@" in parts.netloc else host
    # A query string may carry a password too (?password=...): dropped.
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _recorded_value(name: str, value: str) -> str | None:
    if SECRET_NAME.search(name):
        return None
    if name in HARMLESS:
        return _without_credentials(value)
    if PLAIN_VALUE.fullmatch(value.strip()):
        return value.strip()
    return None


def environment_snapshot() -> dict[str, str | None]:
    """{name: value, or None when only the name is kept} for every variable Chatlab reads that
    is set (NAME, or NAME_FILE for a secret kept in a file: recorded under NAME_FILE)."""
    names = set(env.names_asked()) | {n for n in os.environ if n.startswith("CHATLAB_")}
    snapshot: dict[str, str | None] = {}
    for name in sorted(names):
        if name in os.environ:
            snapshot[name] = _recorded_value(name, os.environ[name])
        elif f"{name}_FILE" in os.environ:
            snapshot[f"{name}_FILE"] = None
    return snapshot


def _version() -> str:
    try:
        return metadata.version("chatlab")
    except metadata.PackageNotFoundError:
        return "unknown"


def restore_needs_record() -> dict[str, Any]:
    """The manifest's fields for it (signed with the rest)."""
    return {"secret_key_fingerprint": key_fingerprint(settings.SECRET_KEY),
            "key_probe": crypto.encrypt(KEY_PROBE),
            "environment": environment_snapshot(), "version": _version()}


def _fingerprints() -> tuple[str, list[str]]:
    return (key_fingerprint(settings.SECRET_KEY),
            [key_fingerprint(key) for key in settings.ENCRYPTION_KEYS])


def key_report(manifest: dict[str, Any]) -> tuple[bool, list[str]]:
    """(can this installation decrypt the backup's secrets, lines saying why)."""
    theirs = manifest.get("secret_key_fingerprint")
    if not theirs:
        return True, ["SECRET_KEY: not recorded (a backup made before Chatlab recorded it)."]
    ours, extra = _fingerprints()
    if theirs == ours:
        lines = [f"SECRET_KEY: fingerprint {theirs}, the same as this installation's."]
    elif theirs in extra:
        lines = [f"SECRET_KEY: the backup was made with the key whose fingerprint is {theirs}, "
                 f"not this SECRET_KEY ({ours}) but one in CHATLAB_ENCRYPTION_KEYS: keep it "
                 "there after the restore."]
    else:
        return False, [
            f"SECRET_KEY differs: the backup was made with the key whose fingerprint is "
            f"{theirs}; this installation's SECRET_KEY is {ours} and no key in "
            "CHATLAB_ENCRYPTION_KEYS matches. The encrypted provider API keys and integration "
            "tokens in this backup cannot be decrypted here: set SECRET_KEY to the key the "
            "backup was made with, or add it to CHATLAB_ENCRYPTION_KEYS."]
    if probe := manifest.get("key_probe"):
        try:
            crypto.decrypt(probe)
        except crypto.DecryptionError:
            return False, [*lines, "Encrypted values: a value encrypted when the backup was "
                           "made does NOT decrypt with the current keys."]
        lines.append("Encrypted values: a value encrypted when the backup was made decrypts "
                     "with the current keys.")
    return True, lines


def environment_report(manifest: dict[str, Any]) -> list[str]:
    recorded: dict[str, str | None] | None = manifest.get("environment")
    if recorded is None:
        return []
    lines = [f"Made by Chatlab {manifest.get('version', 'unknown')} (this is {_version()}), "
             f"with {len(recorded)} settings in the environment:"]
    lines += [f"  {name}" + ("" if value is None else f"={value}")
              for name, value in sorted(recorded.items())]
    now = environment_snapshot()
    missing = sorted(set(recorded) - set(now))
    if missing:
        lines.append("Set then, not set now: " + ", ".join(missing))
    differ = sorted(name for name, value in recorded.items()
                    if value is not None and name in now and now[name] not in (None, value))
    if differ:
        lines.append("Set to another value now: " + ", ".join(differ))
    return lines


def key_diagnosis(name: str) -> list[str]:
    """Why a manifest's signature may not check out: its key, read from the manifest without
    trusting it (the signature failed). [] when it cannot tell or the key is the same."""
    if not is_backup_name(name):
        return []
    try:
        with storage_open(name + MANIFEST_SUFFIX) as stream:
            manifest = json.loads(stream.read())
    except (BackupError, OSError, ValueError):
        return []
    if not isinstance(manifest, dict):
        return []
    can_decrypt, lines = key_report({"secret_key_fingerprint":
                                     manifest.get("secret_key_fingerprint")})
    return [] if can_decrypt else lines
