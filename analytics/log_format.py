"""Log lines: JSON (one object a line, for a log collector) in production, readable text in the
embedded mode; every line carries the request id; secrets and message text are scrubbed before
any handler sees them."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

from .request_ids import request_id_var

REDACTED = "[redacted]"
_SECRETS = [
    # OpenAI-style keys (sk-..., sk-proj-...), Slack tokens, Telegram bot tokens, GitHub tokens.
    (re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}"), REDACTED),
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9\-]{8,}"), REDACTED),
    (re.compile(r"\b\d{6,12}:[A-Za-z0-9_\-]{30,}\b"), REDACTED),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"), REDACTED),
    (re.compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=\-]{8,}"), r"\1 " + REDACTED),
    (re.compile(r"(?i)(authorization|proxy-authorization|cookie|x-api-key)(['\"]?\s*[:=]\s*)"
                r"(['\"]?)[^'\",\n]+"), r"\1\2\3" + REDACTED),
    (re.compile(r"(?i)((?:api[_\-]?key|access[_\-]?token|secret|password|passwd|token)"
                r"['\"]?\s*[:=]\s*)(['\"]?)[^\s'\",&}]+"), r"\1\2" + REDACTED),
    # Credentials in a URL: scheme://user:password@host
    (re.compile(r"(\b[a-z][a-z0-9+.\-]*://[^\s:/@]+:)[^\s@/]+@"), r"\1" + REDACTED + "@"),
]
# Extra fields that would hold what people wrote.
TEXT_FIELDS = frozenset({"content", "text", "prompt", "messages", "message_text", "body"})
_STANDARD = frozenset(vars(logging.makeLogRecord({})).keys()) | {
    "message", "asctime", "request_id", "request", "scope"}


def scrub(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class MessageText:
    """Wraps what a person or a model wrote before it goes into a log call: shown as its length
    only, unless CHATLAB_LOG_MESSAGE_TEXT is on. ``log.info("got %s", MessageText(body))``"""

    __slots__ = ("text",)
    show = False  # set from settings by ScrubFilter

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        if MessageText.show:
            return self.text
        return f"[text: {len(self.text)} chars]"

    __repr__ = __str__


class ScrubFilter(logging.Filter):
    """Adds the request id and scrubs the record in place, once, for every handler after it."""

    def __init__(self, message_text: bool = False) -> None:
        super().__init__()
        self.message_text = message_text
        MessageText.show = message_text

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get() or "-"
        if getattr(record, "_chatlab_scrubbed", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a malformed call must still be logged
            message = f"{record.msg!r} {record.args!r}"
        # The template groups errors (analytics.error_log): keep it before it is replaced.
        record._chatlab_template = str(record.msg)
        record.msg, record.args = scrub(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            # Formatters print exc_text when it is set: the scrubbed text stands for the exception.
            record.exc_text = scrub(record.exc_text)
        if not self.message_text:
            for name in TEXT_FIELDS & vars(record).keys():
                setattr(record, name, REDACTED)
        record._chatlab_scrubbed = True
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        for name, value in vars(record).items():
            if name not in _STANDARD and not name.startswith("_"):
                entry[name] = value if isinstance(value, (int, float, bool, type(None))) \
                    else scrub(str(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = scrub(self.formatException(record.exc_info))
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = scrub(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "request_id"):
            record.request_id = "-"
        return super().format(record)
