"""Analytics, logs and the error log (issue #10)."""

from __future__ import annotations

from chatlab_site import env

from .base import LOG_LEVEL, MIDDLEWARE, PRODUCTION

# JSON lines for a log collector in production, readable text in the embedded mode.
CHATLAB_LOG_FORMAT = env.choice("CHATLAB_LOG_FORMAT", ("json", "text"),
                                "json" if PRODUCTION else "text")
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
    "root": {"handlers": ["console", "errors"], "level": LOG_LEVEL},
    "loggers": {
        "django.channels.server": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
        "httpx2": {"level": "WARNING"},  # a line per model request, on the event loop
        "celery.app.trace": {"filters": ["celery_tasks"]},
        "celery.worker.strategy": {"filters": ["celery_tasks"]},
    },
}
