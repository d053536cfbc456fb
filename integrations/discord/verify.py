"""Discord's request signature: Ed25519 over timestamp + body with the application's public key.
Discord sends requests with bad signatures on purpose and delists an endpoint that accepts them.
As for Slack, a request signed more than five minutes ago is refused too: a captured request
cannot be replayed later (the interaction id already keeps one from being answered twice)."""

from __future__ import annotations

import time
from collections.abc import Mapping

from nacl.exceptions import BadSignatureError, CryptoError
from nacl.signing import VerifyKey

WINDOW_SECONDS = 5 * 60


def discord_request_verified(*, public_key: str, body: bytes,
                             headers: Mapping[str, str]) -> bool:
    signature = headers.get("X-Signature-Ed25519", "")
    timestamp = headers.get("X-Signature-Timestamp", "")
    # Only ASCII digits: str.isdigit() also takes "²", which int() refuses.
    if not signature or not (timestamp.isascii() and timestamp.isdigit()) or not public_key:
        return False
    if abs(time.time() - int(timestamp)) > WINDOW_SECONDS:
        return False
    try:
        VerifyKey(bytes.fromhex(public_key)).verify(timestamp.encode() + body,
                                                     bytes.fromhex(signature))
    except (BadSignatureError, CryptoError, ValueError, TypeError):
        return False
    return True
