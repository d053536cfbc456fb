"""Telegram replies through the real generation service and the fake OpenAI server: edited in
place at the allowed rate, split at 4096, and what happens when Telegram's API fails."""

from __future__ import annotations

import logging

import pytest

from conversations.models import Message
from integrations.models import Integration
from integrations.services.inbound import Inbound
from integrations.tasks import handle_inbound
from tests.fakes.telegram_server import TOKEN
from tests.telegram_support import (  # noqa: F401  (fixtures)
    fake_telegram, fake_telegram_server, message_update, post_update, telegram,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def gpt_telegram(telegram: Integration, openai_bot) -> Integration:
    telegram.bot = openai_bot
    telegram.save()
    return telegram


@pytest.fixture
def member(gpt_telegram):
    """A linked Chatlab user (the user role may use every bot)."""
    from integrations.models import MessengerIdentity
    from tests.factories import UserFactory

    user = UserFactory()
    MessengerIdentity.objects.create(platform="telegram", external_id="4242", name="Ada",
                                     user=user)
    return user


def test_reply_streams_by_editing_at_the_interval_and_ends_with_the_stored_text(
        client, gpt_telegram, member, fake_telegram, fake_openai, settings):
    settings.CHATLAB_TELEGRAM_EDIT_INTERVAL = 0.25
    fake_openai.configure(tokens=80, rate=100)  # 0.8 s of streaming, 80 deltas
    post_update(client, gpt_telegram, message_update("Write me a long story please"))

    reply = Message.objects.get(role=Message.Role.ASSISTANT)
    assert reply.status == Message.Status.COMPLETE and reply.content.startswith("Echo:")
    sends = fake_telegram.calls_of("sendMessage")
    edits = fake_telegram.calls_of("editMessageText")
    assert len(sends) == 1
    assert edits, "a reply that streams for 0.8 s is edited while it grows"
    # Never per token: at most one call per interval (plus the final edit).
    assert len(edits) <= reply.total_ms / 1000 / 0.25 + 3 < 80
    times = [sends[0].time] + [e.time for e in edits]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert all(gap >= 0.2 for gap in gaps[:-1]), gaps  # the last edit may follow at once
    # The text grows edit by edit, and the last one is the stored reply.
    texts = [sends[0].params["text"]] + [e.params["text"] for e in edits]
    assert all(len(a) < len(b) for a, b in zip(texts, texts[1:]))
    assert texts[-1] == reply.content
    # Every edit is of the one message sent.
    assert {e.params["message_id"] for e in edits} == {sends[0].result["message_id"]}
    assert fake_telegram.shown() == [reply.content]


def test_a_long_reply_is_split_at_4096_characters(client, gpt_telegram, member, fake_telegram,
                                                 fake_openai):
    fake_openai.configure(tokens=1000, rate=0)
    post_update(client, gpt_telegram, message_update("Write the longest answer you can"))

    reply = Message.objects.get(role=Message.Role.ASSISTANT)
    assert len(reply.content) > 4096
    sends = fake_telegram.calls_of("sendMessage")
    assert len(sends) >= 2
    edits = fake_telegram.calls_of("editMessageText")
    for call in sends + edits:
        assert len(call.params["text"]) <= 4096
    # Each message's last text, in order, makes up the whole reply.
    shown = fake_telegram.shown()
    assert len(shown) == len(sends)
    assert " ".join(shown).split() == reply.content.split()


def test_429_is_honoured_with_retry_after(client, gpt_telegram, member, fake_telegram,
                                          fake_openai):
    fake_telegram.fail("sendMessage", 429, retry_after=1)
    post_update(client, gpt_telegram, message_update("Hello after a rate limit"))

    attempts = fake_telegram.calls_of("sendMessage", ok_only=False)
    assert [c.status for c in attempts] == [429, 200]
    assert attempts[1].time - attempts[0].time >= 0.95
    gpt_telegram.refresh_from_db()
    assert gpt_telegram.last_error == ""


def test_5xx_is_retried_then_recorded_without_crashing(client, gpt_telegram, member,
                                                       fake_telegram, fake_openai, settings):
    settings.CHATLAB_MESSENGER_RETRIES = 3
    fake_telegram.fail("sendMessage", 502, times=3)
    post_update(client, gpt_telegram, message_update("Hello while Telegram is down"))

    assert [c.status for c in fake_telegram.calls_of("sendMessage", ok_only=False)] == [502] * 3
    gpt_telegram.refresh_from_db()
    assert "Bad Gateway" in gpt_telegram.last_error and gpt_telegram.last_error_at
    # The reply itself is stored whole; the next message gets through.
    assert Message.objects.get(role=Message.Role.ASSISTANT).status == Message.Status.COMPLETE
    post_update(client, gpt_telegram, message_update("And now?"))
    assert len(fake_telegram.calls_of("sendMessage")) == 1


def test_a_5xx_once_is_retried_and_the_reply_arrives(client, gpt_telegram, member, fake_telegram,
                                                     fake_openai):
    fake_telegram.fail("sendMessage", 500)
    post_update(client, gpt_telegram, message_update("Hello with one hiccup"))
    assert [c.status for c in fake_telegram.calls_of("sendMessage", ok_only=False)] == [500, 200]
    gpt_telegram.refresh_from_db()
    assert gpt_telegram.last_error == ""


def test_a_revoked_token_is_recorded_not_retried_and_never_logged(
        client, gpt_telegram, member, fake_telegram, fake_openai, caplog):
    fake_telegram.revoke()
    with caplog.at_level(logging.DEBUG):
        post_update(client, gpt_telegram, message_update("Hello with a dead token"))

    assert [c.status for c in fake_telegram.calls_of("sendMessage", ok_only=False)] == [401]
    gpt_telegram.refresh_from_db()
    assert "revoked" in gpt_telegram.last_error
    secret = TOKEN.split(":", 1)[1]
    assert secret not in gpt_telegram.last_error
    assert secret not in caplog.text and gpt_telegram.webhook_secret not in caplog.text
    assert Message.objects.get(role=Message.Role.ASSISTANT).status == Message.Status.COMPLETE


def test_the_celery_task_handles_an_inbound_on_the_worker_loop(gpt_telegram, member,
                                                               fake_telegram, fake_openai):
    """The production path: the `chat` worker's task, not the embedded hand-over."""
    inbound = Inbound(integration_id=gpt_telegram.pk, delivery_key="task-1", sender_id="4242",
                      sender_name="Ada", chat_id="4242", text="Hello from the worker",
                      reply_ref={"message_id": 5, "private": True})
    handle_inbound(inbound.to_dict())
    reply = Message.objects.get(role=Message.Role.ASSISTANT)
    assert reply.conversation.owner == member
    assert fake_telegram.calls_of("sendMessage")[-1].params["chat_id"] == 4242
    assert fake_telegram.shown() == [reply.content]


def test_two_replies_in_one_group_share_the_chat_rate(client, gpt_telegram, fake_telegram,
                                                      settings):
    settings.CHATLAB_TELEGRAM_EDIT_INTERVAL = 0.4
    group = {"chat_type": "supergroup", "chat_id": -100777}
    # Two guests at once (each answered by the default demo bot, at once).
    post_update(client, gpt_telegram, message_update("@chatlab_test_bot first question here",
                                                     user_id=1, **group), wait=False)
    post_update(client, gpt_telegram, message_update("@chatlab_test_bot second question here",
                                                     user_id=2, **group))
    calls = [c for c in fake_telegram.calls if c.method in ("sendMessage", "editMessageText")]
    assert len([c for c in calls if c.method == "sendMessage"]) == 2
    times = sorted(c.time for c in calls)
    # One call at a time in that chat, however many replies are being written there (measured
    # on arrival, so a connection set up for one of them may eat into the interval).
    assert all(b - a >= 0.25 for a, b in zip(times, times[1:])), times
    assert Message.objects.filter(role=Message.Role.ASSISTANT,
                                  status=Message.Status.COMPLETE).count() == 2
