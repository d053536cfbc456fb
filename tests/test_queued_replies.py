"""Replies run by the Celery `chat` task: claimed once on the task's thread, written on the
worker's shared loop."""

from __future__ import annotations

import threading
import uuid

import pytest

from conversations.models import Message
from conversations.services import generation, queued
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


def test_the_claim_loads_the_reply_and_builds_its_request_in_one_go(
    user, openai_bot, django_assert_max_num_queries
):
    reply = pending_reply(user, openai_bot)
    # The claiming UPDATE, the reply with its bot, then the context: role, policy, history.
    with django_assert_max_num_queries(5):
        claimed = queued.reply_claim(str(reply.pk))
    assert isinstance(claimed, queued.ClaimedReply)
    assert claimed.reply.status == Message.Status.STREAMING
    assert claimed.request is not None and claimed.request.model == openai_bot.model
    assert claimed.request.messages[-1] == {"role": "user", "content": "Hello there, how are you?"}
    # Everything writing it reads is loaded: no query for the bot, provider or owner.
    with django_assert_max_num_queries(0):
        assert claimed.reply.conversation.bot.provider.pk and claimed.reply.conversation.owner.pk

    # Claimed already: the second claim gets the reply's status, not the reply.
    assert queued.reply_claim(str(reply.pk)) == Message.Status.STREAMING


def test_a_request_that_cannot_be_built_at_the_claim_still_ends_in_a_readable_failure(
    user, openai_bot, fake_openai, monkeypatch
):
    reply = pending_reply(user, openai_bot)

    def broken(*args, **kwargs):
        raise ValueError("the bot's context window is misconfigured")

    monkeypatch.setattr(queued, "build_request", broken)
    monkeypatch.setattr(generation, "build_request", broken)
    assert queued.reply_run_queued(str(reply.pk)) == Message.Status.FAILED
    reply.refresh_from_db()
    assert reply.status == Message.Status.FAILED and "Please try again" in reply.error
    assert fake_openai.requests == []


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
