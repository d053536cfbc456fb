"""The generation service: writes, coalescing, checkpoints and failure handling."""

from __future__ import annotations

import asyncio
import re
import threading
import time

import pytest
from asgiref.sync import sync_to_async
from django.db import OperationalError
from django.db.backends.utils import CursorWrapper
from django.db.models import QuerySet

from conversations.models import Message
from conversations.services import generation
from conversations.services.coalesce import Coalescer
from conversations.services.context import language_instruction
from conversations.services.messages import message_send
from conversations.services.runner import runner
from conversations.services.sweep import sweep_interrupted_replies
from tests.fakes.openai_server import Behaviour

pytestmark = pytest.mark.django_db(transaction=True)
WRITE = re.compile(r'^\s*(INSERT INTO|UPDATE)\s+"?(\w+)"?', re.I)


class WriteCounter:
    """Counts INSERT and UPDATE statements per table, from every thread."""

    def __init__(self) -> None:
        self.writes: list[str] = []
        self._lock = threading.Lock()

    def __enter__(self) -> WriteCounter:
        original = self.original = CursorWrapper._execute
        counter = self

        def counting(cursor, sql, params, *ignored):
            match = WRITE.match(sql)
            if match:
                with counter._lock:
                    counter.writes.append(match.group(2))
            return original(cursor, sql, params, *ignored)

        CursorWrapper._execute = counting
        return self

    def __exit__(self, *exc) -> None:
        CursorWrapper._execute = self.original

    def count(self, table: str) -> int:
        return sum(1 for t in self.writes if t == table)


async def run_reply(user, bot, text="hello") -> Message:
    sent = await sync_to_async(message_send)(
        user=user, content=text, bot_slug=bot.slug, reply_status=Message.Status.STREAMING
    )
    live = runner().start(sent.reply.pk, sent.conversation.pk)
    await live.task
    return await Message.objects.aget(pk=sent.reply.pk)


@pytest.mark.parametrize("tokens", [20, 2000])
async def test_a_reply_costs_the_same_few_writes_whatever_its_length(
    user, openai_bot, fake_openai, tokens
):
    fake_openai.configure(tokens=tokens)
    openai_bot.max_output_tokens = 4000
    await openai_bot.asave()
    with WriteCounter() as counter:
        reply = await run_reply(user, openai_bot)
    assert reply.status == "complete" and len(reply.content.split()) == tokens
    # user message + reply inserted, reply finished; the conversation row is created once.
    assert counter.count("conversations_message") == 3, counter.writes
    assert counter.count("conversations_conversation") == 1, counter.writes


async def test_a_long_reply_is_checkpointed_a_few_times(user, openai_bot, fake_openai, settings):
    settings.CHATLAB_CHECKPOINT_SECONDS = 0.2
    settings.CHATLAB_CHECKPOINT_GROWTH = 2.0
    fake_openai.configure(rate=100, tokens=150)  # 1.5 s: checkpoints at 0.2, 0.6, 1.4 s
    with WriteCounter() as counter:
        reply = await run_reply(user, openai_bot)
    assert reply.status == "complete"
    assert 2 + 2 <= counter.count("conversations_message") <= 2 + 4


async def test_a_checkpoint_saves_the_text_so_far(user, openai_bot, fake_openai, settings):
    settings.CHATLAB_CHECKPOINT_SECONDS = 0.2
    fake_openai.configure(rate=50, tokens=60)
    sent = await sync_to_async(message_send)(
        user=user, content="checkpoint", bot_slug="gpt", reply_status=Message.Status.STREAMING
    )
    live = runner().start(sent.reply.pk, sent.conversation.pk)
    await asyncio.sleep(0.6)
    midway = await Message.objects.aget(pk=sent.reply.pk)
    assert midway.status == "streaming" and midway.content.startswith("Echo: checkpoint")
    await live.task
    final = await Message.objects.aget(pk=sent.reply.pk)
    assert final.status == "complete" and len(final.content) > len(midway.content)


async def test_a_dropped_stream_fails_readably_and_keeps_the_text(user, openai_bot, fake_openai):
    fake_openai.script(Behaviour(drop_after=3))
    reply = await run_reply(user, openai_bot)
    assert reply.status == "failed"
    assert reply.error and "Traceback" not in reply.error
    assert reply.content.startswith("Echo:")
    assert await Message.objects.filter(role="user", content="hello").aexists()


async def test_a_briefly_locked_database_does_not_lose_the_finished_reply(
    user, openai_bot, fake_openai, monkeypatch
):
    monkeypatch.setattr(generation, "FINAL_SAVE_RETRY_DELAYS", (0.01, 0.01))
    original = QuerySet.aupdate
    refused: list[str] = []

    async def locked_twice(queryset, **fields):
        if fields.get("status") == "complete" and len(refused) < 2:
            refused.append(fields["status"])
            raise OperationalError("database table is locked: conversations_message")
        return await original(queryset, **fields)

    monkeypatch.setattr(QuerySet, "aupdate", locked_twice)
    reply = await run_reply(user, openai_bot)
    assert refused == ["complete", "complete"]
    assert reply.status == "complete" and reply.content.startswith("Echo:")


async def test_a_wrong_key_is_reported_without_leaking_it(user, openai_bot, fake_openai):
    fake_openai.script(Behaviour(status=401))
    reply = await run_reply(user, openai_bot)
    assert reply.status == "failed" and "API key" in reply.error
    assert "sk-test-secret-key" not in reply.error
    assert len(fake_openai.requests) == 1  # an auth error is not retried


async def test_the_process_shutting_down_marks_the_reply_interrupted(user, openai_bot, fake_openai):
    fake_openai.configure(rate=20, tokens=100)
    sent = await sync_to_async(message_send)(
        user=user, content="bye", bot_slug="gpt", reply_status=Message.Status.STREAMING
    )
    live = runner().start(sent.reply.pk, sent.conversation.pk)
    await asyncio.sleep(0.3)
    live.task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await live.task
    reply = await Message.objects.aget(pk=sent.reply.pk)
    assert reply.status == "failed" and "interrupted" in reply.error


async def test_the_sweep_marks_only_orphans(user, demo_bot, settings, monkeypatch):
    settings.CHATLAB_STALE_REPLY_SECONDS = 5
    monkeypatch.setattr("conversations.services.sweep.PING_WAIT_SECONDS", 0.2)
    orphan = await sync_to_async(message_send)(user=user, content="orphan")
    old = time.time() - 60
    from datetime import UTC, datetime

    await Message.objects.filter(pk=orphan.reply.pk).aupdate(
        status="streaming", updated_at=datetime.fromtimestamp(old, UTC))
    await Message.objects.filter(pk=orphan.user_message.pk).aupdate(
        updated_at=datetime.fromtimestamp(old, UTC))
    assert await sweep_interrupted_replies() == 1
    reply = await Message.objects.aget(pk=orphan.reply.pk)
    assert reply.status == "failed" and "interrupted" in reply.error
    user_message = await Message.objects.aget(pk=orphan.user_message.pk)
    assert user_message.status == "complete" and user_message.content == "orphan"


async def test_the_sweep_spares_a_live_reply(user, openai_bot, fake_openai, settings, monkeypatch):
    settings.CHATLAB_STALE_REPLY_SECONDS = 5
    monkeypatch.setattr("conversations.services.sweep.PING_WAIT_SECONDS", 0.3)
    fake_openai.configure(rate=20, tokens=40)
    sent = await sync_to_async(message_send)(
        user=user, content="alive", bot_slug="gpt", reply_status=Message.Status.STREAMING
    )
    live = runner().start(sent.reply.pk, sent.conversation.pk)
    from datetime import UTC, datetime

    await Message.objects.filter(pk=sent.reply.pk).aupdate(
        updated_at=datetime.fromtimestamp(time.time() - 60, UTC))
    await asyncio.sleep(0.05)
    assert await sweep_interrupted_replies() == 0
    await live.task
    assert (await Message.objects.aget(pk=sent.reply.pk)).status == "complete"


async def test_the_coalescer_sends_the_first_delta_at_once_then_batches():
    sent: list[tuple[float, int, str]] = []
    start = time.monotonic()

    async def emit(seq: int, text: str, reasoning: str) -> None:
        sent.append((time.monotonic() - start, seq, text))

    coalescer = Coalescer(0.05, emit)
    coalescer.push("first ")
    await asyncio.sleep(0.005)
    assert sent and sent[0][1:] == (1, "first ")
    for i in range(20):  # 20 tokens over ~100 ms
        coalescer.push(f"t{i} ")
        await asyncio.sleep(0.005)
    await coalescer.close()
    assert "".join(t for _, _, t in sent) == "first " + "".join(f"t{i} " for i in range(20))
    assert [s for _, s, _ in sent] == list(range(1, len(sent) + 1))
    assert 2 <= len(sent) <= 5  # ~100 ms of tokens in 50 ms windows, not one frame per token
    gaps = [b[0] - a[0] for a, b in zip(sent[1:], sent[2:])]
    assert all(g >= 0.045 for g in gaps)


async def test_a_given_history_replaces_the_conversations(user, openai_bot, fake_openai):
    sent = await sync_to_async(message_send)(
        user=user, content="stored text", bot_slug="gpt", reply_status=Message.Status.STREAMING
    )
    history = [{"role": "user", "content": "first"}, {"role": "assistant", "content": "answer"},
               {"role": "user", "content": "second"}]
    live = runner().start(sent.reply.pk, sent.conversation.pk, history=history)
    await live.task
    request = fake_openai.requests[-1]
    assert request["body"]["messages"] == [
        {"role": "system", "content": "You are a test bot."},
        {"role": "system", "content": language_instruction("en")}, *history]
    # The rest of the body and the provider's key, as the SDK's own create() would send them.
    assert {k: v for k, v in request["body"].items() if k != "messages"} == {
        "model": "gpt-4o-mini", "temperature": openai_bot.temperature,
        "max_tokens": openai_bot.max_output_tokens, "stream": True,
        "stream_options": {"include_usage": True}}
    assert request["authorization"] == "Bearer sk-test-secret-key"


async def test_checkpoints_in_the_cache_cost_no_writes_and_survive_the_process(
    user, openai_bot, fake_openai, settings, monkeypatch
):
    """With CHATLAB_CHECKPOINTS=cache (production, Redis) a reply's writes stay the same
    however long it runs, and the sweep saves the text so far of one whose process died."""
    from datetime import UTC, datetime

    from django.core.cache import cache

    from conversations.services.generation import checkpoint_key

    settings.CHATLAB_CHECKPOINTS = "cache"
    settings.CHATLAB_CHECKPOINT_CACHE_SECONDS = 0.2  # a checkpoint every 0.2 s
    fake_openai.configure(rate=50, tokens=60)  # 1.2 s: about five checkpoints
    sent = await sync_to_async(message_send)(
        user=user, content="cached", bot_slug="gpt", reply_status=Message.Status.STREAMING
    )
    with WriteCounter() as counter:
        live = runner().start(sent.reply.pk, sent.conversation.pk)
        await asyncio.sleep(0.7)
        midway = await cache.aget(checkpoint_key(sent.reply.pk))
        assert midway and midway.startswith("Echo: cached")
        assert (await Message.objects.aget(pk=sent.reply.pk)).content == ""
        await live.task
    assert counter.count("conversations_message") == 1  # the final save only

    # A reply whose process died mid-way: the sweep keeps the text the cache holds.
    settings.CHATLAB_STALE_REPLY_SECONDS = 5
    monkeypatch.setattr("conversations.services.sweep.PING_WAIT_SECONDS", 0.2)
    orphan = await sync_to_async(message_send)(user=user, content="orphan")
    await Message.objects.filter(pk=orphan.reply.pk).aupdate(
        status="streaming", updated_at=datetime.fromtimestamp(time.time() - 60, UTC))
    await cache.aset(checkpoint_key(orphan.reply.pk), "Echo: orphan lorem", 60)
    assert await sweep_interrupted_replies() == 1
    reply = await Message.objects.aget(pk=orphan.reply.pk)
    assert reply.status == "failed" and reply.content == "Echo: orphan lorem"
