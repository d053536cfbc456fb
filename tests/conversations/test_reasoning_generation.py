"""Reasoning is shown, not lost (issue #18): a reasoning model's thoughts travel in the same
coalesced frames as the answer, are stored apart from it at the same writes per reply, and are
never sent back to the model."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest
from asgiref.sync import sync_to_async
from django.core.cache import cache

from conversations.models import Message
from conversations.services import sweep
from conversations.services.coalesce import Coalescer
from conversations.services.context import build_request
from conversations.services.generation import (
    checkpoint_key,
    checkpoint_value,
    replies_as_stored,
)
from conversations.services.messages import message_send
from conversations.services.runner import runner
from tests.test_generation import WriteCounter

pytestmark = pytest.mark.django_db(transaction=True)


class Reader:
    """The socket that asked: keeps every event it was sent."""

    channel_name = "reader"

    def __init__(self) -> None:
        self.events: list[dict] = []

    async def deliver(self, event: dict) -> None:
        self.events.append(event)

    def deltas(self) -> list[dict]:
        return [e for e in self.events if e["kind"] == "delta"]


async def _send(user, bot, text: str = "why is the sky blue") -> Message:
    sent = await sync_to_async(message_send)(
        user=user, content=text, bot_slug=bot.slug, reply_status=Message.Status.STREAMING
    )
    return sent


async def test_reasoning_is_stored_apart_at_the_same_writes_per_reply(
    user, reasoning_bot, fake_openai
):
    fake_openai.configure(ttft=0.0, rate=200, tokens=20)
    sent = await _send(user, reasoning_bot)
    reader = Reader()
    with WriteCounter() as counter:
        live = runner().start(sent.reply.pk, sent.conversation.pk, direct=reader)
        await live.task
    reply = await Message.objects.aget(pk=sent.reply.pk)
    assert reply.status == "complete"
    assert reply.reasoning == "Thinking about: why is the sky blue"
    assert "Thinking about" not in reply.content and reply.content.startswith("Echo:")
    assert reply.reasoning_ms is not None and reply.reasoning_ms > 0
    # Only the final save: reasoning rides in the same update as the text.
    assert counter.count("conversations_message") == 1, counter.writes
    deltas = reader.deltas()
    assert "".join(d.get("reasoning", "") for d in deltas) == reply.reasoning
    assert "".join(d["text"] for d in deltas) == reply.content
    # Coalesced: 6 thoughts and 20 tokens at 200/s (130 ms) are a handful of frames.
    assert len(deltas) <= 6, deltas
    assert [d["seq"] for d in deltas] == list(range(1, len(deltas) + 1))
    done = reader.events[-1]
    assert done["kind"] == "done" and done["message"]["reasoning_ms"] == reply.reasoning_ms


async def test_a_model_without_reasoning_sends_frames_as_before(user, openai_bot, fake_openai):
    fake_openai.configure(ttft=0.0, rate=200, tokens=10)
    sent = await _send(user, openai_bot)
    reader = Reader()
    live = runner().start(sent.reply.pk, sent.conversation.pk, direct=reader)
    await live.task
    assert all("reasoning" not in d for d in reader.deltas())
    reply = await Message.objects.aget(pk=sent.reply.pk)
    assert reply.reasoning == "" and reply.reasoning_ms is None and reply.parts == []


async def test_reasoning_tokens_are_stored_and_not_added_twice(user, openai_bot, fake_openai):
    openai_bot.model = "gpt-5-mini"
    await openai_bot.asave()
    fake_openai.configure(ttft=0.0, rate=500, tokens=10)
    sent = await _send(user, openai_bot)
    live = runner().start(sent.reply.pk, sent.conversation.pk)
    await live.task
    reply = await Message.objects.aget(pk=sent.reply.pk)
    # The fake, like OpenAI, counts the 16 reasoning tokens inside completion_tokens.
    assert reply.reasoning_tokens == 16
    assert reply.completion_tokens == 10 + 16


async def test_reasoning_is_never_sent_back_to_the_model(user, reasoning_bot, fake_openai):
    fake_openai.configure(ttft=0.0, rate=500, tokens=5)
    first = await _send(user, reasoning_bot, "first question")
    await runner().start(first.reply.pk, first.conversation.pk).task
    assert (await Message.objects.aget(pk=first.reply.pk)).reasoning
    second = await sync_to_async(message_send)(
        user=user, content="second question", conversation_id=first.conversation.pk,
        reply_status=Message.Status.STREAMING,
    )
    reply = await Message.objects.select_related(
        "conversation__bot__provider", "conversation__owner").aget(pk=second.reply.pk)
    request = await sync_to_async(build_request)(reply)
    assert request.want_reasoning
    sent_text = " ".join(m["content"] for m in request.messages)
    assert "first question" in sent_text and "Thinking about" not in sent_text
    await runner().start(second.reply.pk, second.conversation.pk).task
    body = fake_openai.requests[-1]["body"]
    assert not any("Thinking about" in str(m) for m in body["messages"])
    assert all(set(m) == {"role", "content"} for m in body["messages"])


async def test_one_frame_carries_both_channels_in_one_window():
    frames: list[tuple[int, str, str]] = []

    async def emit(seq: int, text: str, reasoning: str) -> None:
        frames.append((seq, text, reasoning))

    coalescer = Coalescer(0.05, emit)
    coalescer.push_reasoning("first ")
    await asyncio.sleep(0.005)
    assert frames == [(1, "", "first ")]  # the first delta at once, whatever its kind
    for i in range(10):
        coalescer.push_reasoning(f"r{i} ")
        await asyncio.sleep(0.002)
    coalescer.push("answer")
    await coalescer.close()
    assert len(frames) == 2, frames  # not one frame per token
    assert frames[1] == (2, "answer", "".join(f"r{i} " for i in range(10)))
    assert coalescer.sent_reasoning() == "first " + frames[1][2]
    assert coalescer.sent_text() == "answer"


async def test_snapshots_and_cache_checkpoints_keep_the_reasoning(
    user, reasoning_bot, fake_openai, settings
):
    settings.CHATLAB_CHECKPOINTS = "cache"
    settings.CHATLAB_CHECKPOINT_CACHE_SECONDS = 0.1
    fake_openai.configure(ttft=0.0, rate=20, tokens=40)  # thoughts for 0.3 s, then 2 s of text
    sent = await _send(user, reasoning_bot)
    live = runner().start(sent.reply.pk, sent.conversation.pk)
    await asyncio.sleep(0.6)
    snapshot = live.snapshot()
    assert snapshot["reasoning"] == "Thinking about: why is the sky blue"
    saved = await cache.aget(checkpoint_key(sent.reply.pk))
    assert saved["reasoning"] == "Thinking about: why is the sky blue"
    stored = await Message.objects.aget(pk=sent.reply.pk)
    shown = (await replies_as_stored([stored]))[0]
    assert shown["reasoning"] == "Thinking about: why is the sky blue"
    assert shown["content"].startswith("Echo:")
    live.stop_requested = True
    live.task.cancel()
    await asyncio.gather(live.task, return_exceptions=True)


async def test_the_sweep_keeps_an_orphans_reasoning(user, reasoning_bot, settings, monkeypatch):
    settings.CHATLAB_STALE_REPLY_SECONDS = 5
    sent = await _send(user, reasoning_bot)
    await cache.aset(checkpoint_key(sent.reply.pk),
                     checkpoint_value("Echo: half", "Thinking about it"), 60)
    await Message.objects.filter(pk=sent.reply.pk).aupdate(
        updated_at=datetime.fromtimestamp(time.time() - 60, UTC))

    async def nobody_alive(ids: list[str]) -> set[str]:
        return set()

    monkeypatch.setattr(sweep, "_alive", nobody_alive)
    assert await sweep.sweep_interrupted_replies() == 1
    reply = await Message.objects.aget(pk=sent.reply.pk)
    assert reply.status == "failed"
    assert (reply.content, reply.reasoning) == ("Echo: half", "Thinking about it")


async def test_a_database_checkpoint_saves_the_reasoning_so_far(
    user, reasoning_bot, fake_openai, settings
):
    settings.CHATLAB_CHECKPOINTS = "database"
    settings.CHATLAB_CHECKPOINT_SECONDS = 0.2
    settings.CHATLAB_CHECKPOINT_GROWTH = 100.0  # one checkpoint, then the final save
    fake_openai.configure(ttft=0.0, rate=20, tokens=30)
    sent = await _send(user, reasoning_bot)
    with WriteCounter() as counter:
        live = runner().start(sent.reply.pk, sent.conversation.pk)
        await asyncio.sleep(0.7)
        midway = await Message.objects.aget(pk=sent.reply.pk)
        await live.task
    # Saved at 0.2 s, while the model was still thinking.
    assert midway.status == "streaming" and midway.content == ""
    assert midway.reasoning.startswith("Thinking about:")
    assert counter.count("conversations_message") == 2  # the checkpoint and the final save
    final = await Message.objects.aget(pk=sent.reply.pk)
    assert final.reasoning == "Thinking about: why is the sky blue"
