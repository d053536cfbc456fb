"""Encryption at rest for secrets kept in the database (provider keys, integration tokens)."""

from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

PREFIX = "fernet:"


def _derive(secret: str) -> Fernet:
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"chatlab", info=b"field-encryption"
    ).derive(secret.encode())
    return Fernet(base64.urlsafe_b64encode(key))


@lru_cache(maxsize=4)
def _fernet(secret_key: str, extra_keys: tuple[str, ...]) -> MultiFernet:
    # The first key encrypts; all of them decrypt, so old secrets survive a key rotation.
    return MultiFernet([_derive(secret_key), *(_derive(k) for k in extra_keys)])


def _current() -> MultiFernet:
    return _fernet(settings.SECRET_KEY, tuple(settings.ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    if not plaintext:
        return ""
    return PREFIX + _current().encrypt(plaintext.encode()).decode()


class DecryptionError(Exception):
    """The stored secret was encrypted with a key this deployment no longer has."""


def decrypt(stored: str) -> str:
    if not stored:
        return ""
    if not stored.startswith(PREFIX):
        raise DecryptionError("value is not an encrypted secret")
    try:
        return _current().decrypt(stored[len(PREFIX) :].encode()).decode()
    except InvalidToken:
        raise DecryptionError(
            "cannot decrypt a stored secret: SECRET_KEY changed without the old key in "
            "CHATLAB_ENCRYPTION_KEYS"
        ) from None
