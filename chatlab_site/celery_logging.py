"""Celery's task lines without what people wrote.

The worker logs every task as "received", then "succeeded in ...s: <return value>" or "raised";
each line also carries the task's arguments and return value in the record's `data` (which the
JSON formatter writes out). A title, a summary or a messenger update would reach the logs that
way, against the README's promise that message text is logged as its length only. Celery has
no setting for these lines (`celery.app.trace.LOG_SUCCESS` is a module constant), so a filter
on the two loggers that write them keeps the task's name, id and timing and drops the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from celery.app import trace

HIDDEN = frozenset({"args", "kwargs", "return_value"})
SUCCESS = "Task %(name)s[%(id)s] succeeded in %(runtime)ss"
LOGGERS = ("celery.app.trace", "celery.worker.strategy")


def _without_hidden(values: Mapping[str, object]) -> dict[str, object]:
    return {k: v for k, v in values.items() if k not in HIDDEN}


class TaskLogFilter(logging.Filter):
    """Set on the loggers in LOGGERS (settings.LOGGING); ``message_text`` (the debugging switch
    CHATLAB_LOG_MESSAGE_TEXT) leaves the lines as Celery writes them."""

    def __init__(self, message_text: bool = False) -> None:
        super().__init__()
        self.message_text = message_text

    def filter(self, record: logging.LogRecord) -> bool:
        if self.message_text:
            return True
        data = getattr(record, "data", None)
        if isinstance(data, Mapping):
            record.data = _without_hidden(data)
        if isinstance(record.args, Mapping):
            if record.msg == trace.LOG_SUCCESS:
                record.msg = SUCCESS
            record.args = _without_hidden(record.args)
        return True
