"""Follow-up work a reply queues (titles, summaries) against a dead Celery broker: the reply
ends and says so (`done`) first, the broker is tried only afterwards, off the event loop, and
its failure is logged once, not per reply (issue #17, item 1)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import pytest

from chatlab_site.celery import app as celery_app
from conversations.models import Conversation, Message
from conversations.services import background
from conversations.services.fanout import ReplyFanout
from conversations.tasks import summarise_conversation, title_conversation
from tests.stack import free_port
from tests.test_consumer import connect, frames_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def dead_broker(settings) -> Iterator[str]:
    """Celery as in production (tasks go to a broker), with the broker at a closed port."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    saved = celery_app.conf.broker_url, celery_app.conf.task_always_eager
    settings.CELERY_TASK_ALWAYS_EAGER = False
    celery_app.conf.broker_url, celery_app.conf.task_always_eager = url, False
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    background.reset_broker_state()
    try:
        yield url
    finally:
        background.wait_idle()
        celery_app.conf.broker_url, celery_app.conf.task_always_eager = saved
        celery_app._pool = None
        celery_app.amqp._producer_pool = None
        background.reset_broker_state()


async def _exchange(comm, content: str) -> list[dict]:
    await comm.send_json_to({"type": "send", "content": content, "bot": "gpt",
                             "client_id": str(uuid.uuid4())})
    return await frames_until(comm, lambda f: f.get("type") == "done", timeout=10)


async def test_a_dead_broker_neither_holds_up_nor_breaks_replies(
    user, openai_bot, fake_openai, settings, dead_broker, monkeypatch, caplog
):
    settings.CHATLAB_AUTO_TITLES = True
    order: list[str] = []
    real_send = ReplyFanout.send

    async def spy_send(self, event):
        order.append(event["kind"])
        await real_send(self, event)

    monkeypatch.setattr(ReplyFanout, "send", spy_send)
    for task in (title_conversation, summarise_conversation):
        real_apply = task.apply_async

        def spy_apply(*args, _real=real_apply, _name=task.name, **kwargs):
            order.append(f"enqueue {_name}")
            return _real(*args, **kwargs)

        monkeypatch.setattr(task, "apply_async", spy_apply)
    caplog.set_level(logging.WARNING, logger=background.__name__)

    comm = await connect(user)
    assert (await comm.connect())[0]
    first = await _exchange(comm, "How do I cook soup for four people?")
    assert first[-1]["type"] == "done" and first[-1]["status"] == "complete", first
    conversation = await Conversation.objects.aget(pk=first[0]["conversation"])
    # The title is still the first message's, so the next reply asks for one again.
    second = await _exchange(comm, "And for six?")
    assert second[-1]["status"] == "complete", second
    await comm.disconnect()

    replies = [m async for m in Message.objects.filter(
        conversation=conversation, role=Message.Role.ASSISTANT)]
    assert [m.status for m in replies] == ["complete", "complete"]
    await _wait_idle()
    # Every enqueue came after the `done` of the reply that asked for it, never before.
    assert order.count("done") == 2
    enqueues = [i for i, kind in enumerate(order) if kind.startswith("enqueue")]
    assert enqueues and enqueues[0] > order.index("done"), order
    warnings = [r for r in caplog.records if r.name == background.__name__]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "broker" in warnings[0].getMessage()


async def _wait_idle() -> None:
    from asgiref.sync import sync_to_async

    await sync_to_async(background.wait_idle, thread_sensitive=False)()


def test_a_flood_of_follow_ups_with_the_broker_down_costs_one_log_line_and_no_waiting(
    dead_broker, caplog
):
    import time

    caplog.set_level(logging.WARNING, logger=background.__name__)
    started = time.monotonic()
    for n in range(50):
        background.run_soon(title_conversation, f"c{n}", queue="chat")
    assert time.monotonic() - started < 0.2  # the caller never waits for the broker
    background.wait_idle()
    assert len([r for r in caplog.records if r.name == background.__name__]) == 1
