"""Replies run by the Celery `chat` task: claimed once on the task's thread, written on the
worker's shared loop."""

from __future__ import annotations

import threading
import uuid

import pytest

from conversations.models import Message
from conversations.services import queued
from conversations.services.messages import message_send

pytestmark = pytest.mark.django_db(transaction=True)


def pending_reply(user, bot) -> Message:
    return message_send(user=user, content="Hello there, how are you?", bot_slug=bot.slug).reply


def test_a_pending_reply_is_written_once_however_often_its_task_arrives(
    user, openai_bot, fake_openai
):
    reply = pending_reply(user, openai_bot)
    assert reply.status == Message.Status.PENDING

    assert queued.reply_run_queued(str(reply.pk)) == Message.Status.COMPLETE
    # Delivered again (a worker lost its ack): the claim refuses, nothing is asked or written.
    asked = len(fake_openai.requests)
    assert asked == 1
    assert queued.reply_run_queued(str(reply.pk)) == Message.Status.COMPLETE
    assert len(fake_openai.requests) == asked

    reply.refresh_from_db()
    assert reply.status == Message.Status.COMPLETE and reply.content
    assert queued.reply_run_queued(str(uuid.uuid4())) == "missing"


def test_the_claim_is_one_update_and_one_read_on_the_callers_thread(
    user, openai_bot, django_assert_num_queries
):
    reply = pending_reply(user, openai_bot)
    with django_assert_num_queries(2):  # the claiming UPDATE, then the reply with its bot
        claimed, why = queued.reply_claim(str(reply.pk))
    assert why == "" and claimed is not None
    assert claimed.status == Message.Status.STREAMING
    # Everything writing it reads is loaded: no query for the bot, provider or owner.
    with django_assert_num_queries(0):
        assert claimed.conversation.bot.provider.pk and claimed.conversation.owner.pk

    # Claimed already: the second claim gets the reply's status, not the reply.
    assert queued.reply_claim(str(reply.pk)) == (None, Message.Status.STREAMING)


def test_the_task_claims_on_its_own_thread_and_writes_on_the_shared_loop(
    user, openai_bot, fake_openai, monkeypatch
):
    """A worker starts dozens of replies at once: each task's claim runs on the task's thread
    instead of queueing on the loop for Django's one shared thread."""
    reply = pending_reply(user, openai_bot)
    seen: dict[str, str] = {}
    claim = queued.reply_claim

    def recording_claim(message_id: str):
        seen["claim"] = threading.current_thread().name
        return claim(message_id)

    monkeypatch.setattr(queued, "reply_claim", recording_claim)
    task_thread = threading.Thread(
        target=lambda: seen.update(status=queued.reply_run_queued(str(reply.pk))),
        name="celery-task-thread",
    )
    task_thread.start()
    task_thread.join(30)
    assert seen == {"claim": "celery-task-thread", "status": Message.Status.COMPLETE}
