"""The backup storage (STORAGES["dbbackup"]): a local folder or an S3-compatible bucket.

Every backup is a few flat files named <backup>.<part>; the manifest is written last, so a
backup without one is incomplete.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from django.core.files import File
from django.core.files.storage import Storage, storages
from django.utils.translation import gettext as _

from .errors import BackupError, BackupRefused, BackupStorageUnavailable
from .manifest import manifest_load
from .naming import MANIFEST_SUFFIX, is_backup_name


def backup_storage() -> Storage:
    return storages["dbbackup"]


def _unavailable_errors() -> tuple[type[BaseException], ...]:
    found: list[type[BaseException]] = [OSError]
    try:
        from botocore.exceptions import BotoCoreError, ClientError

        found += [BotoCoreError, ClientError]
    except ImportError:  # pragma: no cover - boto3 is a dependency
        pass
    return tuple(found)


@contextmanager
def storage_errors(action: str) -> Iterator[None]:
    """Turns the storage's own failures (disk full, bucket unreachable) into one retryable error
    that says what was being done."""
    try:
        yield
    except BackupError:
        raise
    except _unavailable_errors() as exc:
        reason = _("storage full") if getattr(exc, "errno", None) == errno.ENOSPC else str(exc)
        raise BackupStorageUnavailable(
            _("Backup storage unavailable while %(action)s: %(reason)s")
            % {"action": action, "reason": reason}) from exc


def storage_files() -> list[str]:
    with storage_errors(_("listing backups")):
        try:
            return sorted(backup_storage().listdir("")[1])
        except FileNotFoundError:  # the folder is made by the first backup
            return []


def backup_names(files: list[str] | None = None) -> list[str]:
    """Complete backups (those with a manifest), oldest first."""
    names = [f[: -len(MANIFEST_SUFFIX)] for f in (storage_files() if files is None else files)
             if f.endswith(MANIFEST_SUFFIX)]
    return sorted(n for n in names if is_backup_name(n))


def storage_write(*, name: str, stream: IO[bytes]) -> None:
    storage = backup_storage()
    with storage_errors(_("writing %(file)s") % {"file": name}):
        saved = storage.save(name, File(stream, name=name))
    if saved != name:
        with storage_errors(_("removing %(file)s") % {"file": saved}):
            storage.delete(saved)
        raise BackupError(_("%(file)s already exists in the backup storage.") % {"file": name})


def storage_open(name: str) -> IO[bytes]:
    storage = backup_storage()
    with storage_errors(_("reading %(file)s") % {"file": name}):
        if not storage.exists(name):
            raise BackupRefused(_("%(file)s is missing from the backup storage.") % {"file": name})
        return storage.open(name, "rb")


def storage_delete(name: str) -> None:
    with storage_errors(_("removing %(file)s") % {"file": name}):
        backup_storage().delete(name)


def manifest_read(name: str) -> dict[str, Any]:
    """A backup's manifest, once its form and signature check out."""
    if not is_backup_name(name):
        raise BackupRefused(_("%(name)s is not a backup name.") % {"name": name})
    with storage_open(name + MANIFEST_SUFFIX) as stream, storage_errors(_("reading the manifest")):
        raw = stream.read()
    return manifest_load(raw, name=name)
