"""Queue follow-up work (summaries, titles) without making the reply that asked for it wait for
it, or fail because of it.

- While a reply is written (``hold_follow_ups``), the follow-ups it asks for are held and sent
  once it has said `done` (``send_follow_ups``): the person never waits on the broker.
- With a broker, tasks leave from one publisher thread, never from the caller, so a broker that
  is down or slow costs the caller nothing. A failed send is logged once per outage; for
  BROKER_PAUSE_SECONDS after it, follow-ups are dropped rather than queued behind a dead
  broker (a title is asked for again with the conversation's next reply, a summary the next
  time the context overflows).
- In the embedded mode (no broker) Celery runs tasks in-process and at once, which would put a
  model call in front of whatever asked for it: there a task runs on a short-lived background
  thread instead.
"""

from __future__ import annotations

import contextvars
import logging
import queue as queues
import threading
import time
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections

log = logging.getLogger(__name__)

# Tests set this to run the task in the calling thread, inside the test's transaction.
INLINE = False

# After a failed send, follow-ups are dropped for this long before the broker is tried again.
BROKER_PAUSE_SECONDS = 15.0


@dataclass(frozen=True)
class FollowUp:
    task: Any
    args: tuple[Any, ...]
    queue: str | None = None


_held: contextvars.ContextVar[list[FollowUp] | None] = contextvars.ContextVar(
    "chatlab_held_follow_ups", default=None
)


def hold_follow_ups() -> None:
    """From now on, in this context (a reply's task and the threads it calls), follow-ups are
    held for ``send_follow_ups``."""
    _held.set([])


def held_follow_ups() -> list[FollowUp]:
    """Takes the follow-ups held so far (they are no longer held)."""
    held = _held.get()
    if held is None:
        return []
    taken = held[:]
    held.clear()
    return taken


async def send_follow_ups(follow_ups: list[FollowUp]) -> None:
    """Sends follow-ups from async code; never raises, never waits for the broker."""
    try:
        if INLINE:  # the tests' mode runs the tasks themselves, with their database access
            await sync_to_async(_send_all)(follow_ups)
        else:
            _send_all(follow_ups)
    except Exception:
        log.exception("follow-up tasks could not be queued")


def _send_all(follow_ups: list[FollowUp]) -> None:
    for follow_up in follow_ups:
        _send(follow_up)


def run_soon(task: Any, *args: Any, queue: str | None = None) -> None:
    """``queue`` overrides the task's route (CELERY_TASK_ROUTES) for this call."""
    follow_up = FollowUp(task, args, queue)
    held = _held.get()
    if held is not None:
        held.append(follow_up)
        return
    _send(follow_up)


def _send(follow_up: FollowUp) -> None:
    if INLINE:
        _apply_async(follow_up)
    elif not settings.CELERY_TASK_ALWAYS_EAGER:
        _publisher().put(follow_up)
    else:
        task, args = follow_up.task, follow_up.args

        def run() -> None:
            try:
                task.apply(args=args)
            except Exception:
                log.exception("background %s failed", task.name)
            finally:
                connections.close_all()  # this thread's own connections

        threading.Thread(target=run, name=f"bg-{task.name.rsplit('.', 1)[-1]}",
                         daemon=True).start()


def _apply_async(follow_up: FollowUp) -> None:
    options = {"queue": follow_up.queue} if follow_up.queue else {}
    follow_up.task.apply_async(args=follow_up.args, **options)


# The publisher thread -----------------------------------------------------------------------

_queue: queues.SimpleQueue[FollowUp | threading.Event] | None = None
_queue_lock = threading.Lock()
_paused_until = 0.0
_skipped = 0


def _publisher() -> queues.SimpleQueue[FollowUp | threading.Event]:
    global _queue
    with _queue_lock:
        if _queue is None:
            _queue = queues.SimpleQueue()
            threading.Thread(target=_publish_loop, args=(_queue,), name="chatlab-enqueue",
                             daemon=True).start()
        return _queue


def _publish_loop(pending: queues.SimpleQueue[FollowUp | threading.Event]) -> None:
    while True:
        item = pending.get()
        if isinstance(item, threading.Event):
            item.set()
        else:
            _publish(item)


def _publish(follow_up: FollowUp) -> None:
    # Only this thread reads and writes the outage state.
    global _paused_until, _skipped
    if _paused_until and time.monotonic() < _paused_until:
        _skipped += 1
        return
    try:
        _apply_async(follow_up)
    except Exception as exc:
        if not _paused_until:
            log.warning(
                "Celery broker unreachable (%s): %s not queued; follow-up tasks (titles, "
                "summaries) are skipped until it answers, retried every %d s",
                exc, follow_up.task.name, BROKER_PAUSE_SECONDS,
            )
        _skipped += 1
        _paused_until = time.monotonic() + BROKER_PAUSE_SECONDS
        return
    if _paused_until:
        log.info("Celery broker reachable again; %d follow-up tasks were skipped", _skipped)
        _paused_until, _skipped = 0.0, 0


def wait_idle(timeout: float = 30) -> None:
    """Waits until every follow-up handed to the publisher so far has been dealt with."""
    if _queue is None:
        return
    done = threading.Event()
    _queue.put(done)
    done.wait(timeout)


def reset_broker_state() -> None:
    """Forgets an outage (tests, after pointing Celery at another broker)."""
    global _paused_until, _skipped
    wait_idle()
    _paused_until, _skipped = 0.0, 0
