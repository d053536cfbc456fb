"""Every ERROR record (any logger: the project's apps, Celery's task failures, Django's 500s)
becomes an ErrorEvent occurrence, grouped by a fingerprint of where it happened, which exception
and which log message (its template, so the ids in it do not split the group)."""

from __future__ import annotations

import hashlib
import logging
import traceback
from datetime import UTC, datetime

from .log_format import scrub
from .recorder import ErrorRecord, record_error

SKIPPED = ("analytics.recorder",)


def _location(record: logging.LogRecord) -> str:
    """The innermost frame of the exception in our own code, else where the log call was."""
    exc = record.exc_info[1] if record.exc_info else None
    if exc is not None and exc.__traceback__ is not None:
        frames = traceback.extract_tb(exc.__traceback__)
        ours = [f for f in frames if "site-packages" not in f.filename] or frames
        if ours:
            frame = ours[-1]
            return f"{_short(frame.filename)}:{frame.name}"
    return f"{_short(record.pathname)}:{record.funcName}"


def _short(path: str) -> str:
    """The path inside the project or the installed package, the same on every machine."""
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1]
    from django.conf import settings

    root = f"{settings.BASE_DIR}/"
    return path[len(root):] if path.startswith(root) else path.rsplit("/", 2)[-1]


def fingerprint_of(record: logging.LogRecord) -> tuple[str, str, str]:
    template = str(getattr(record, "_chatlab_template", record.msg))
    exc_type = record.exc_info[0] if record.exc_info else None
    exception = f"{exc_type.__module__}.{exc_type.__qualname__}" if exc_type else ""
    location = _location(record)
    digest = hashlib.sha256("\x1f".join((record.name, template, exception, location))
                            .encode()).hexdigest()
    return digest, exception, location


class ErrorEventHandler(logging.Handler):
    def __init__(self, level: int = logging.ERROR) -> None:
        super().__init__(level)

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(SKIPPED):
            return
        try:
            digest, exception, location = fingerprint_of(record)
            text = record.exc_text or ""
            if not text and record.exc_info:
                text = scrub(logging.Formatter().formatException(record.exc_info))
            record_error(ErrorRecord(
                fingerprint=digest, logger=record.name, level=record.levelname,
                message=scrub(record.getMessage()), exception=exception, location=location,
                traceback=text, at=datetime.fromtimestamp(record.created, UTC),
                request_id=getattr(record, "request_id", "") or "",
            ))
        except Exception:
            self.handleError(record)
