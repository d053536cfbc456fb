"""Queue follow-up work (summaries, titles) without making the reply being built wait for it.

With a broker the task is simply sent. In the embedded mode (no broker) Celery runs tasks
in-process and at once, which would put a model call in front of the reply that asked for it:
there it runs on a short-lived background thread instead.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from django.conf import settings
from django.db import connections

log = logging.getLogger(__name__)

# Tests set this to run the task in the calling thread, inside the test's transaction.
INLINE = False


def run_soon(task: Any, *args: Any, queue: str | None = None) -> None:
    """``queue`` overrides the task's route (CELERY_TASK_ROUTES) for this call."""
    if not settings.CELERY_TASK_ALWAYS_EAGER or INLINE:
        task.apply_async(args=args, **({"queue": queue} if queue else {}))
        return

    def run() -> None:
        try:
            task.apply(args=args)
        except Exception:
            log.exception("background %s failed", task.name)
        finally:
            connections.close_all()  # this thread's own connections

    threading.Thread(target=run, name=f"bg-{task.name.rsplit('.', 1)[-1]}", daemon=True).start()
