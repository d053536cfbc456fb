from __future__ import annotations


class BackupError(Exception):
    """A backup could not be made or read; the message says why in words an operator can act on."""


class BackupRefused(BackupError):
    """A restore (or drill) refused a backup before touching anything."""


class BackupStorageUnavailable(BackupError):
    """The backup storage cannot be reached or is full: worth retrying later."""
