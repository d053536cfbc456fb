"""Slack's request signature: v0 HMAC-SHA256 of "v0:<timestamp>:<body>" with the app's signing
secret, refused when the timestamp is more than five minutes off (a replayed request)."""

from __future__ import annotations

from collections.abc import Mapping

from slack_sdk.signature import SignatureVerifier


def slack_request_verified(*, signing_secret: str, body: bytes,
                           headers: Mapping[str, str]) -> bool:
    if not signing_secret.strip():
        return False
    timestamp = headers.get("X-Slack-Request-Timestamp", "")
    # SignatureVerifier calls int() on the timestamp: a forged non-number must fail, not raise.
    # Only ASCII digits: str.isdigit() also takes "²", which int() refuses.
    if not (timestamp.isascii() and timestamp.isdigit()) or not headers.get("X-Slack-Signature"):
        return False
    return SignatureVerifier(signing_secret).is_valid(
        body=body, timestamp=timestamp, signature=headers["X-Slack-Signature"])
