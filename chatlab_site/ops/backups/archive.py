"""Tar archives whose every member has a SHA-256 in the manifest (media, logs)."""

from __future__ import annotations

import hashlib
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from .manifest import CHUNK


def tar_add_hashed(tar: tarfile.TarFile, name: str, source: IO[bytes], *,
                   mode: int | None = None) -> dict[str, Any]:
    """Adds what `source` holds as `name`; returns its manifest entry (sha256, size).

    It goes through a temporary copy: a tar header needs the size first, and a file that grows
    while it is read (a live log) is archived exactly as it was hashed."""
    with tempfile.TemporaryFile() as copy:
        digest, size = hashlib.sha256(), 0
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            copy.write(chunk)
            size += len(chunk)
        copy.seek(0)
        info = tarfile.TarInfo(name)
        info.size = size
        if mode is not None:
            info.mode = mode
        tar.addfile(info, copy)
    return {"sha256": digest.hexdigest(), "size": size}


def tar_digests(archive: Path) -> Iterator[tuple[tarfile.TarInfo, str | None]]:
    """Each member with the SHA-256 of its content (None for what is not a regular file).
    Raises tarfile.TarError, EOFError or OSError for an archive that cannot be read."""
    with tarfile.open(archive, "r:") as tar:
        for member in tar:
            stream = tar.extractfile(member) if member.isfile() else None
            if stream is None:
                yield member, None
                continue
            digest = hashlib.sha256()
            while chunk := stream.read(CHUNK):
                digest.update(chunk)
            yield member, digest.hexdigest()
