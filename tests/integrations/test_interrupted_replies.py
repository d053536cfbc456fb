"""Item 5 of issue #17: a messenger reply the sweep marks interrupted is edited on the platform
to end with the notice the web shows (in the person's language) and how to retry; /retry
writes it again.

The reply streams into the fake Telegram Bot API through the real sink and aiogram; then its
process "dies" (nothing more happens to it) and the real sweep finds it. The whole thing with a
worker really killed is tests/integrations/test_faults_messenger.py.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from django.utils import timezone

from conversations.models import Message
from conversations.services.sweep import sweep_interrupted_replies
from conversations.worker_loop import run_on_shared_loop
from integrations.models import ReplyPost
from integrations.services.people import identity_resolve
from integrations.services.replies import messenger_message_store
from integrations.services.sink import MessengerSink
from integrations.transports.base import Target, transport_for
from tests.telegram_support import (  # noqa: F401  (fixtures)
    fake_telegram, fake_telegram_server, message_update, post_update, telegram,
)

pytestmark = pytest.mark.django_db(transaction=True)

PARTIAL = "Mir geht es gut, danke der"


def _reply_dies_after_showing(telegram, text: str, language: str) -> Message:
    identity = identity_resolve(platform="telegram", external_id="4242", name="Ada")
    sent = messenger_message_store(integration=telegram, identity=identity, chat_id="4242",
                                   text="Hallo, wie geht es dir heute?")

    async def stream_then_die() -> None:
        sink = MessengerSink(transport_for(telegram),
                             Target("4242", "", {"message_id": 1, "private": True}),
                             telegram.pk, reply_id=str(sent.reply.pk), language=language)
        await sink.deliver({"kind": "delta", "text": text})
        for _ in range(200):  # until the first message is out; then the process dies
            if await ReplyPost.objects.filter(reply_id=sent.reply.pk).aexists():
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the sink never sent the reply")

    run_on_shared_loop(stream_then_die(), timeout=20)
    # Idle past the stale limit, as a reply whose process died is.
    Message.objects.filter(pk=sent.reply.pk).update(updated_at=timezone.now() - timedelta(hours=1))
    return sent.reply


def test_an_interrupted_reply_is_edited_with_the_notice_in_the_persons_language(
        client, telegram, fake_telegram):
    reply = _reply_dies_after_showing(telegram, PARTIAL, "de")
    assert fake_telegram.shown() == [PARTIAL]

    assert run_on_shared_loop(sweep_interrupted_replies(), timeout=30) == 1
    reply.refresh_from_db()
    assert reply.status == Message.Status.FAILED
    [shown] = fake_telegram.shown()  # the same message, edited: nothing the person saw is lost
    assert shown.startswith(PARTIAL)
    assert "Die Antwort wurde unterbrochen" in shown and "/retry" in shown
    assert len(fake_telegram.calls_of("sendMessage")) == 1

    # /retry writes the reply again (the demo bot), in a new message.
    post_update(client, telegram, message_update("/retry", user_id=4242))
    again = Message.objects.get(role=Message.Role.ASSISTANT, superseded_at__isnull=True)
    assert again.pk != reply.pk and again.status == Message.Status.COMPLETE
    assert len(fake_telegram.shown()) == 2 and fake_telegram.shown()[1].strip()


def test_retry_without_a_failed_reply_says_so(client, telegram, fake_telegram):
    post_update(client, telegram, message_update("/retry", user_id=4343))
    [shown] = fake_telegram.shown()
    assert "no failed reply" in shown
    assert not Message.objects.exists()
