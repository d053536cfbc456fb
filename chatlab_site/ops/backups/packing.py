"""Compression (django-dbbackup's gzip helpers) and encryption of one backup part, and back.

A part that is compressed already (pg_dump's custom format) is stored as it is, its manifest
entry saying `"compression": "none"`; backups from before that have no such entry and every part
gzipped, which the part's name (`.gz`) and gzip's magic bytes tell.
"""

from __future__ import annotations

import gzip
import shutil
import zlib
from pathlib import Path

from dbbackup.utils import compress_file, uncompress_file
from django.utils.translation import gettext as _

from .errors import BackupRefused
from .gpg import gpg_decrypt, gpg_encrypt, gpg_recipient


GZIP = "gzip"
NONE = "none"
_GZIP_MAGIC = b"\x1f\x8b"


def pack(*, source: Path, part: str, compress: bool = True) -> tuple[Path, str, str]:
    """(packed file, stored part name, GPG fingerprint or "")."""
    packed = source
    if compress:
        with source.open("rb") as stream:
            compressed, part = compress_file(stream, part)
        packed = source.with_name(part)
        with packed.open("wb") as out:
            compressed.seek(0)
            shutil.copyfileobj(compressed, out)
        compressed.close()
    if not gpg_recipient():
        return packed, part, ""
    encrypted = packed.with_name(part + ".gpg")
    fingerprint = gpg_encrypt(source=packed, target=encrypted)
    if packed != source:
        packed.unlink()
    return encrypted, part + ".gpg", fingerprint


def _starts_with(path: Path, magic: bytes) -> bool:
    with path.open("rb") as stream:
        return stream.read(len(magic)) == magic


def unpack(*, source: Path, part: str, compression: str | None = None) -> Path:
    """The plain file of a downloaded part; BackupRefused when it cannot be decrypted or
    decompressed. `compression` is the manifest's word for the part (None in older backups)."""
    if part.endswith(".gpg"):
        plain = source.with_name(part.removesuffix(".gpg") + ".plain")
        gpg_decrypt(source=source, target=plain, label=part)
        source, part = plain, part.removesuffix(".gpg")
    if compression == NONE and not part.endswith(".gz"):
        return source
    if not part.endswith(".gz") or not _starts_with(source, _GZIP_MAGIC):
        raise BackupRefused(_("%(part)s is neither compressed nor encrypted as expected.")
                            % {"part": part})
    target = source.with_name(part.removesuffix(".gz"))
    try:
        with source.open("rb") as stream:
            plain_stream, _name = uncompress_file(stream, part)
        with target.open("wb") as out:
            plain_stream.seek(0)
            shutil.copyfileobj(plain_stream, out)
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise BackupRefused(_("%(part)s cannot be decompressed (truncated or corrupted): "
                              "%(error)s") % {"part": part, "error": exc}) from exc
    return target
