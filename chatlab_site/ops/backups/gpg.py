"""GPG encryption of backup files (python-gnupg, the library django-dbbackup uses).

Settings are read at each call (django-dbbackup reads its own once, at import), so the key can
be changed without a restart of the tests or the worker.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.utils.translation import gettext as _

from .errors import BackupError, BackupRefused


def _gpg():
    import gnupg

    return gnupg.GPG(gnupghome=settings.CHATLAB_BACKUP_GPG_HOME or None)


def gpg_recipient() -> str:
    return settings.CHATLAB_BACKUP_GPG_RECIPIENT


def gpg_encrypt(*, source: Path, target: Path) -> str:
    """Encrypts source to the configured key; returns the key's fingerprint."""
    gpg = _gpg()
    keys = gpg.list_keys(keys=[gpg_recipient()])
    if not keys:
        raise BackupError(_("The GPG key %(key)s (CHATLAB_BACKUP_GPG_RECIPIENT) is not in the "
                            "keyring.") % {"key": gpg_recipient()})
    with source.open("rb") as stream:
        result = gpg.encrypt_file(stream, recipients=[keys[0]["fingerprint"]], output=str(target),
                                  armor=False, always_trust=settings.DBBACKUP_GPG_ALWAYS_TRUST)
    if not result.ok:
        raise BackupError(_("GPG encryption failed: %(status)s") % {"status": result.status})
    return keys[0]["fingerprint"]


def gpg_decrypt(*, source: Path, target: Path, label: str) -> None:
    gpg = _gpg()
    with source.open("rb") as stream:
        result = gpg.decrypt_file(stream, output=str(target),
                                  passphrase=settings.CHATLAB_BACKUP_GPG_PASSPHRASE or None)
    if not result.ok:
        detail = result.status or "?"
        raise BackupRefused(_(
            "Cannot decrypt %(file)s: %(status)s. The secret key it was encrypted to is not in "
            "this keyring (CHATLAB_BACKUP_GPG_HOME), or the passphrase is wrong.")
            % {"file": label, "status": detail})
