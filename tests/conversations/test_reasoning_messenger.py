"""Messengers while a reasoning model thinks (issue #18): the platform message says
"Thinking…" once, then the answer replaces it; the reasoning itself is never posted."""

from __future__ import annotations

import pytest

from conversations.models import Message
from integrations.models import Integration, MessengerIdentity
from tests.factories import UserFactory
from tests.telegram_support import (  # noqa: F401  (fixtures)
    fake_telegram, fake_telegram_server, message_update, post_update, telegram,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def thinking_telegram(telegram: Integration, reasoning_bot) -> Integration:
    telegram.bot = reasoning_bot
    telegram.save()
    MessengerIdentity.objects.create(platform="telegram", external_id="4242", name="Ada",
                                     user=UserFactory())
    return telegram


def test_telegram_shows_thinking_once_then_the_answer(
        client, thinking_telegram, fake_telegram, fake_openai, settings):
    settings.CHATLAB_TELEGRAM_EDIT_INTERVAL = 0.2
    # 8 thoughts over 0.4 s (a status at most, never an edit per thought), then the answer.
    fake_openai.configure(ttft=0.0, rate=20, tokens=12)
    post_update(client, thinking_telegram, message_update("Why is the sea salty please"))

    reply = Message.objects.get(role=Message.Role.ASSISTANT)
    assert reply.status == Message.Status.COMPLETE
    assert reply.reasoning == "Thinking about: Why is the sea salty please"
    sends = fake_telegram.calls_of("sendMessage")
    edits = fake_telegram.calls_of("editMessageText")
    texts = [c.params["text"] for c in sends + edits]
    assert len(sends) == 1 and sends[0].params["text"] == "💭 Thinking…"
    assert texts.count("💭 Thinking…") == 1  # one status, not one per thought
    assert edits and edits[0].params["text"].startswith("Echo:")
    assert not any("Thinking about" in text for text in texts)
    assert fake_telegram.shown() == [reply.content]
