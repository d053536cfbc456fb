"""Counting tokens without ever touching the network.

tiktoken downloads its encodings on first use, which fails offline (and would stall a reply
online). So an encoding is used only when its file is already in tiktoken's local cache
(TIKTOKEN_CACHE_DIR, DATA_GYM_CACHE_DIR or the system temp dir's data-gym-cache) with the right
hash (a wrong one would make tiktoken download it again), is loaded at most once per process, and
everything else is counted by a conservative estimate.

The estimate, stated: a token per three ASCII characters (English averages about four), and a
token per UTF-8 byte pair for everything else (CJK takes three bytes a character, so 1.5 tokens a
character, above cl100k/o200k's usual 1-1.3), plus 4 tokens of framing per message. It errs
towards sending less rather than overflowing the window.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
from collections.abc import Callable
from functools import lru_cache
from typing import Any

log = logging.getLogger(__name__)

CHARS_PER_TOKEN = 3  # ASCII characters per token in the estimate
BYTES_PER_TOKEN = 2  # UTF-8 bytes per token for everything else
MESSAGE_OVERHEAD_TOKENS = 4  # role and separators around each message
REPLY_PRIMING_TOKENS = 3  # what the API adds to start the reply

_BLOBS = "https://openaipublic.blob.core.windows.net/encodings/"
# name -> (the file tiktoken fetches, its SHA-256 as tiktoken_ext.openai_public expects it)
_ENCODING_FILES = {
    "cl100k_base": ("cl100k_base.tiktoken",
                    "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"),
    "o200k_base": ("o200k_base.tiktoken",
                   "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"),
    "p50k_base": ("p50k_base.tiktoken",
                  "94b5ca7dff4d00767bc256fdd1b27e5b17361d7b8a5f968547f9f23eb70d2069"),
    "r50k_base": ("r50k_base.tiktoken",
                  "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930"),
}
_lock = threading.Lock()


def estimate(text: str) -> int:
    if text.isascii():
        return -(-len(text) // CHARS_PER_TOKEN)
    ascii_chars = len(text.encode("ascii", "ignore"))
    other_bytes = len(text.encode("utf-8", "surrogatepass")) - ascii_chars
    return -(-ascii_chars // CHARS_PER_TOKEN) + -(-other_bytes // BYTES_PER_TOKEN)


def _cache_dir() -> str | None:
    for name in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        if name in os.environ:
            return os.environ[name] or None  # empty: tiktoken's caching is off
    return os.path.join(tempfile.gettempdir(), "data-gym-cache")


def cached_locally(encoding_name: str) -> bool:
    """True when tiktoken will find this encoding on disk, intact, and not try to fetch it."""
    entry = _ENCODING_FILES.get(encoding_name)
    directory = _cache_dir()
    if entry is None or directory is None:
        return False
    url = _BLOBS + entry[0]
    path = os.path.join(directory, hashlib.sha1(url.encode()).hexdigest())
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest() == entry[1]
    except OSError:
        return False


@lru_cache(maxsize=8)
def _encoding(encoding_name: str) -> Any | None:
    """The tiktoken encoding, or None when it is not on this machine (never downloaded)."""
    if not cached_locally(encoding_name):
        log.info("tiktoken %s is not cached locally: counting tokens by estimate", encoding_name)
        return None
    try:
        import tiktoken

        return tiktoken.get_encoding(encoding_name)
    except Exception:  # a corrupt cache file, a tiktoken without this encoding
        log.warning("tiktoken %s could not be loaded: counting by estimate", encoding_name,
                    exc_info=True)
        return None


def encoding_for(model: str) -> Any | None:
    try:
        import tiktoken

        name = tiktoken.encoding_name_for_model(model)
    except (ImportError, KeyError):
        # Not an OpenAI model (llama, mistral...): its tokenizer is unknown here.
        return None
    with _lock:  # loaded at most once per process, even when two replies start together
        return _encoding(name)


class TokenCounter:
    """Counts and trims text for one model: exactly with tiktoken, else by the estimate."""

    def __init__(self, model: str, encoding: Any | None = None) -> None:
        self.encoding = encoding if encoding is not None else encoding_for(model)
        self.exact = self.encoding is not None

    def count(self, text: str) -> int:
        if self.encoding is not None:
            return len(self.encoding.encode(text, disallowed_special=()))
        return estimate(text)

    def message(self, text: str) -> int:
        return self.count(text) + MESSAGE_OVERHEAD_TOKENS

    def keep_end(self, text: str, tokens: int) -> str:
        """The longest end of the text that counts at most ``tokens``."""
        return _trim(text, tokens, self, from_end=True)

    def keep_start(self, text: str, tokens: int) -> str:
        return _trim(text, tokens, self, from_end=False)


def _trim(text: str, tokens: int, counter: TokenCounter, *, from_end: bool) -> str:
    if tokens <= 0:
        return ""
    if counter.count(text) <= tokens:
        return text
    enc = counter.encoding
    if enc is not None:
        ids = enc.encode(text, disallowed_special=())
        part = ids[-tokens:] if from_end else ids[:tokens]
        trimmed = enc.decode(part)
        # Decoding a cut multi-byte character can re-encode longer: shave until it fits.
        while trimmed and counter.count(trimmed) > tokens:
            trimmed = trimmed[1:] if from_end else trimmed[:-1]
        return trimmed
    piece: Callable[[int], str] = (lambda n: text[len(text) - n:]) if from_end else (lambda n: text[:n])
    low, high = 0, len(text)
    while low < high:  # the longest piece whose estimate fits
        mid = (low + high + 1) // 2
        if counter.count(piece(mid)) <= tokens:
            low = mid
        else:
            high = mid - 1
    return piece(low)
