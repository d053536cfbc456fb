"""Analytics, logs and the error log (issue #10)."""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from chatlab_site import env

from .base import DATA_DIR, LOG_LEVEL, MIDDLEWARE, PRODUCTION

# JSON lines for a log collector in production, readable text in the embedded mode.
CHATLAB_LOG_FORMAT = env.choice("CHATLAB_LOG_FORMAT", ("json", "text"),
                                "json" if PRODUCTION else "text")


def _log_file(value: str) -> Path | None:
    if not value:
        return None
    path = Path(value).expanduser()
    path = (path if path.is_absolute() else DATA_DIR / path).resolve()
    if path.is_dir():
        raise ImproperlyConfigured(f"CHATLAB_LOG_FILE={value!r} is a folder: name a file in it")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


# A log file besides stdout, off by default (a path; relative: in the data folder), rotated at
# CHATLAB_LOG_FILE_MAX_MB with CHATLAB_LOG_FILE_BACKUPS older files kept. Every backup holds it
# and its rotated copies. One process writes a file: several processes need a file each.
CHATLAB_LOG_FILE = _log_file(env.string("CHATLAB_LOG_FILE").strip())
CHATLAB_LOG_FILE_MAX_MB = env.decimal("CHATLAB_LOG_FILE_MAX_MB", 10.0, minimum=0.001)
CHATLAB_LOG_FILE_BACKUPS = env.integer("CHATLAB_LOG_FILE_BACKUPS", 5, minimum=1)
# Debugging only: log what people and models wrote instead of its length.
CHATLAB_LOG_MESSAGE_TEXT = env.boolean("CHATLAB_LOG_MESSAGE_TEXT", False)
# Logins and errors are written in batches this often (seconds); 0: only when flushed.
CHATLAB_ANALYTICS_FLUSH_SECONDS = env.decimal("CHATLAB_ANALYTICS_FLUSH_SECONDS", 1.0, minimum=0)
# How many days each popular-topics analysis covers (compared with the days before).
CHATLAB_TOPICS_DAYS = env.integer("CHATLAB_TOPICS_DAYS", 7, minimum=1)
# The longest date range the dashboard shows at once.
CHATLAB_DASHBOARD_MAX_DAYS = env.integer("CHATLAB_DASHBOARD_MAX_DAYS", 731, minimum=7)

MIDDLEWARE = ["analytics.request_ids.RequestIdMiddleware", *MIDDLEWARE]

# Celery keeps Django's logging (JSON, request ids, the error log) instead of its own.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "scrub": {"()": "analytics.log_format.ScrubFilter",
                  "message_text": CHATLAB_LOG_MESSAGE_TEXT},
        # Celery's task lines name the task, never its arguments or return value.
        "celery_tasks": {"()": "chatlab_site.celery_logging.TaskLogFilter",
                         "message_text": CHATLAB_LOG_MESSAGE_TEXT},
    },
    "formatters": {
        "json": {"()": "analytics.log_format.JsonFormatter"},
        "text": {"()": "analytics.log_format.TextFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": CHATLAB_LOG_FORMAT,
                    "filters": ["scrub"], "stream": "ext://sys.stdout"},
        "errors": {"class": "analytics.error_log.ErrorEventHandler", "level": "ERROR",
                   "filters": ["scrub"]},
    },
    "root": {"handlers": ["console", "errors", *(["file"] if CHATLAB_LOG_FILE else [])],
             "level": LOG_LEVEL},
    "loggers": {
        "django.channels.server": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
        "httpx2": {"level": "WARNING"},  # a line per model request, on the event loop
        "celery.app.trace": {"filters": ["celery_tasks"]},
        "celery.worker.strategy": {"filters": ["celery_tasks"]},
    },
}
if CHATLAB_LOG_FILE:
    # The console's format and the same scrubbing: the file is as safe to keep as stdout.
    LOGGING["handlers"]["file"] = {
        "class": "logging.handlers.RotatingFileHandler", "filename": str(CHATLAB_LOG_FILE),
        "maxBytes": int(CHATLAB_LOG_FILE_MAX_MB * 1024 * 1024),
        "backupCount": CHATLAB_LOG_FILE_BACKUPS, "encoding": "utf-8",
        "formatter": CHATLAB_LOG_FORMAT, "filters": ["scrub"],
    }
