"""A request id crosses a real Celery hop (a message header, read by a separate worker process)
into the worker's JSON log lines, and a task that fails there becomes an ErrorEvent."""

from __future__ import annotations

import json
import sqlite3
import time

from tests.conftest import require
from tests.stack import redis_available, stack


def _lines(log: str) -> list[dict]:
    found = []
    for line in log.splitlines():
        if line.startswith("{"):
            try:
                found.append(json.loads(line))
            except ValueError:
                pass
    return found


def _wait_for(predicate, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _send(s, rid: str | None, days: object) -> None:
    """Publishes from this process, as a web process would: through the real producer, so the
    header is added by the before_task_publish handler."""
    from celery import current_app

    from analytics.request_ids import request_id_scope

    with current_app.connection_for_write(s.env["REDIS_URL"]) as connection:
        if rid is None:
            current_app.send_task("analytics.tasks.rollup_usage", args=[days],
                                  queue="maintenance", connection=connection)
            return
        with request_id_scope(rid):
            current_app.send_task("analytics.tasks.rollup_usage", args=[days],
                                  queue="maintenance", connection=connection)


def _error_event(path, timeout: float = 15.0) -> tuple:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with sqlite3.connect(path) as db:
            row = db.execute("SELECT count, last_request_id, exception, location FROM "
                             "analytics_errorevent WHERE logger = 'celery.app.trace'").fetchone()
        if row:
            return row
        time.sleep(0.1)
    raise AssertionError("no ErrorEvent was written")


def test_the_request_id_follows_a_task_to_the_worker(tmp_path):
    require(redis_available(), "Redis is not running on 127.0.0.1:6379")
    with stack(tmp_path, postgres=False, redis=True, CHATLAB_LOG_FORMAT="json",
               CHATLAB_ANALYTICS_FLUSH_SECONDS="0.2") as s:
        s.celery_worker(queues="maintenance")
        _send(s, "hop-test-0001", 1)
        _send(s, "hop-fail-0002", "not a number")
        _send(s, None, 1)

        def rolled_up():
            return [e for e in _lines(s.log("worker"))
                    if e["logger"] == "analytics.services.rollups"]

        lines = _wait_for(lambda: len(rolled_up()) >= 2 and rolled_up(), "two rollups")
        # The worker runs them side by side: in either order.
        ids = sorted(e["request_id"] for e in lines)
        assert "hop-test-0001" in ids and len(ids) == 2
        # A task sent from outside any request gets an id of its own in the worker.
        own = next(i for i in ids if i != "hop-test-0001")
        assert own not in ("hop-fail-0002", "-") and len(own) == 32
        failure = _wait_for(lambda: [e for e in _lines(s.log("worker"))
                                     if e["logger"] == "celery.app.trace"
                                     and e["level"] == "ERROR"], "the failure")[0]
        assert failure["request_id"] == "hop-fail-0002" and "TypeError" in failure["exception"]
        # The worker's error log thread wrote it down, grouped, with the request id.
        count, rid, exception, location = _error_event(tmp_path / "data" / "chatlab.sqlite3")
        assert (count, rid, exception) == (1, "hop-fail-0002", "builtins.TypeError")
        assert location.startswith("analytics/services/rollups.py")
