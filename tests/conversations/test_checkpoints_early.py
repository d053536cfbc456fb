"""What a reader has seen of a reply survives the death of the process writing it, from the
first second on, at the same few database writes per reply (issue #17, item 3)."""

from __future__ import annotations

import asyncio
import time

import pytest
from asgiref.sync import sync_to_async
from django.core.cache import cache

from conversations.models import Message
from conversations.services.generation import checkpoint_key
from conversations.services.messages import message_send
from conversations.services.runner import runner
from tests.test_generation import WriteCounter

pytestmark = pytest.mark.django_db(transaction=True)


class Reader:
    """A socket that asked for the reply: keeps what it was shown, and when."""

    channel_name = "reader"

    def __init__(self) -> None:
        self.seen: list[tuple[float, str]] = []

    async def deliver(self, event: dict) -> None:
        if event["kind"] == "delta":
            self.seen.append((time.monotonic(), event["text"]))

    def text_as_of(self, moment: float) -> str:
        return "".join(text for at, text in self.seen if at <= moment)


async def test_the_text_seen_in_the_first_seconds_is_in_the_cache(
    user, openai_bot, fake_openai, settings
):
    settings.CHATLAB_CHECKPOINTS = "cache"
    settings.CHATLAB_CHECKPOINT_SECONDS = 30.0  # the default: no database checkpoint comes
    settings.CHATLAB_CHECKPOINT_CACHE_SECONDS = 0.3
    fake_openai.configure(ttft=0.0, rate=50, tokens=150)  # 3 s
    sent = await sync_to_async(message_send)(
        user=user, content="early death", bot_slug="gpt", reply_status=Message.Status.STREAMING
    )
    reader = Reader()
    with WriteCounter() as counter:
        live = runner().start(sent.reply.pk, sent.conversation.pk, direct=reader)
        for pause in (0.5, 0.7):  # looks at 0.5 s and 1.2 s into the reply
            await asyncio.sleep(pause)
            now = time.monotonic()
            saved = await cache.aget(checkpoint_key(sent.reply.pk))
            # Everything shown up to one cache interval (and a margin) ago is saved.
            seen_then = reader.text_as_of(now - 0.3 - 0.2)
            assert saved and saved.startswith("Echo: early death"), saved
            assert saved.startswith(seen_then), (saved, seen_then)
        writes_while_streaming = counter.count("conversations_message")
        await live.task
    assert writes_while_streaming == 0
    assert counter.count("conversations_message") == 1  # the final save only
    final = await Message.objects.aget(pk=sent.reply.pk)
    assert final.status == "complete" and final.content.startswith(saved)
