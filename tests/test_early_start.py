"""A first message asks the model while it is being stored (conversations.services.early), and
nothing of that early request reaches anyone unless the store admits it."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from asgiref.sync import sync_to_async

from accounts.models import RolePolicy
from conversations.models import Conversation, Message
from conversations.services import first_messages
from conversations.services.context import language_instruction
from tests.fakes.openai_server import default_reply
from tests.test_consumer import connect, frames_until, text_of

pytestmark = pytest.mark.django_db(transaction=True)


def _slow_store(monkeypatch, seconds: float) -> dict[str, float]:
    """Makes storing a message take `seconds` longer; records when the store finished."""
    stored: dict[str, float] = {}
    real = first_messages.new_conversations_send

    def slow(sends):
        time.sleep(seconds)
        sent = real(sends)
        stored["at"] = time.monotonic()
        return sent

    monkeypatch.setattr(first_messages, "new_conversations_send", slow)
    return stored


async def test_the_model_is_asked_before_the_message_is_stored(
    user, openai_bot, fake_openai, monkeypatch
):
    stored = _slow_store(monkeypatch, 1.0)
    comm = await connect(user)
    assert (await comm.connect())[0]
    await comm.send_json_to({"type": "send", "content": "quick", "bot": "gpt",
                             "client_id": str(uuid.uuid4())})
    frames = await frames_until(comm, lambda f: f.get("type") == "done")
    assert len(fake_openai.requests) == 1
    assert fake_openai.requests[0]["time"] < stored["at"] - 0.5
    # The reply still arrives in order: the ids first, then the text, then the end.
    assert frames[0]["type"] == "sent" and frames[-1]["status"] == "complete"
    reply = await Message.objects.aget(pk=frames[0]["reply"]["id"])
    assert reply.content == text_of(frames, frames[0]["k"]) == default_reply(
        [{"role": "user", "content": "quick"}], fake_openai.tokens)
    await comm.disconnect()


async def test_the_message_is_stored_once_the_request_is_written(
    user, openai_bot, fake_openai, monkeypatch
):
    """The store waits for the early request to leave (it competes for the GIL otherwise),
    but not for its answer: the model's first token comes 0.5 s later."""
    fake_openai.configure(ttft=0.5)
    began: list[float] = []
    real = first_messages.new_conversations_send

    def timed(sends):
        began.append(time.monotonic())
        return real(sends)

    monkeypatch.setattr(first_messages, "new_conversations_send", timed)
    comm = await connect(user)
    assert (await comm.connect())[0]
    await comm.send_json_to({"type": "send", "content": "hello", "bot": "gpt",
                             "client_id": str(uuid.uuid4())})
    frames = await frames_until(comm, lambda f: f.get("type") == "done")
    assert frames[-1]["status"] == "complete"
    assert fake_openai.requests[0]["time"] <= began[0] < fake_openai.requests[0]["time"] + 0.4
    await comm.disconnect()


async def test_a_refused_store_shows_and_saves_nothing_of_the_early_request(
    user, openai_bot, fake_openai
):
    comm = await connect(user)
    assert (await comm.connect())[0]
    # The role changes after the socket loaded it: the store reads it afresh and refuses.
    await sync_to_async(RolePolicy.objects.filter(role="user").update)(messages_per_day=0)
    await comm.send_json_to({"type": "send", "content": "over the limit", "bot": "gpt",
                             "client_id": str(uuid.uuid4())})
    error = await comm.receive_json_from(timeout=5)
    assert error["type"] == "error" and error["code"] == "quota"
    # Nothing else comes: no ids, no text, no end of a reply.
    assert await comm.receive_nothing(timeout=0.5)
    assert await Message.objects.acount() == 0 and await Conversation.objects.acount() == 0
    await comm.disconnect()


async def test_a_bot_changed_after_connecting_is_answered_as_it_is_now(
    user, openai_bot, fake_openai
):
    fake_openai.configure(ttft=0.3)
    comm = await connect(user)
    assert (await comm.connect())[0]
    openai_bot.system_prompt = "You are terse now."
    await openai_bot.asave()
    await comm.send_json_to({"type": "send", "content": "hello", "bot": "gpt",
                             "client_id": str(uuid.uuid4())})
    frames = await frames_until(comm, lambda f: f.get("type") == "done")
    assert frames[-1]["status"] == "complete"
    # The early request (old prompt) was dropped; the one that was answered has the new one.
    answered = fake_openai.requests[-1]["body"]["messages"]
    assert answered[0] == {"role": "system", "content": "You are terse now."}
    for early in fake_openai.requests[:-1]:  # if it left before it was dropped
        assert early["body"]["messages"][0]["content"] == "You are a test bot."
    assert await Message.objects.filter(role="assistant").acount() == 1
    assert len({f["k"] for f in frames if "d" in f}) == 1
    await comm.disconnect()


async def test_a_resent_first_message_starts_nothing_new(user, openai_bot, fake_openai):
    fake_openai.configure(ttft=0.2)
    comm = await connect(user)
    assert (await comm.connect())[0]
    client_id = str(uuid.uuid4())
    frame = {"type": "send", "content": "twice", "bot": "gpt", "client_id": client_id}
    await comm.send_json_to(frame)
    await frames_until(comm, lambda f: f.get("type") == "done")
    other = await connect(user)
    assert (await other.connect())[0]
    await other.send_json_to(frame)
    again = await frames_until(other, lambda f: f.get("type") == "sent")
    assert again[-1]["reply"]["status"] == "complete"
    await asyncio.sleep(0.5)
    assert await Message.objects.acount() == 2
    await comm.disconnect()
    await other.disconnect()


async def test_the_first_exchange_gets_its_title_as_soon_as_it_is_complete(
    user, openai_bot, fake_openai, settings, monkeypatch
):
    from conversations.services import background
    from tests.fakes.openai_server import Behaviour

    monkeypatch.setattr(background, "INLINE", True)
    settings.CHATLAB_AUTO_TITLES = True
    fake_openai.script(Behaviour(tokens=6), Behaviour(text="Soup for four"))
    comm = await connect(user)
    assert (await comm.connect())[0]
    await comm.send_json_to({"type": "send", "content": "How do I cook soup for four people?",
                             "bot": "gpt", "client_id": str(uuid.uuid4())})
    frames = await frames_until(comm, lambda f: f.get("type") == "done")
    conversation_id = frames[0]["conversation"]
    for _ in range(50):
        conversation = await Conversation.objects.aget(pk=conversation_id)
        if conversation.title != "How do I cook soup for four people?":
            break
        await asyncio.sleep(0.1)
    assert conversation.title == "Soup for four"
    assert fake_openai.requests[-1]["body"]["max_tokens"] == 24  # the title request
    await comm.disconnect()


async def test_a_first_message_in_russian_is_asked_once_and_answered_in_russian(
    user, openai_bot, fake_openai, monkeypatch
):
    # The store is slow, so the early request surely leaves first; it must still be the one
    # answered: the language is planned the same way before and after the store.
    _slow_store(monkeypatch, 0.5)
    comm = await connect(user)
    assert (await comm.connect())[0]
    await comm.send_json_to({"type": "send", "content": "Привет! Как развернуть список в Python?",
                             "bot": "gpt", "client_id": str(uuid.uuid4())})
    frames = await frames_until(comm, lambda f: f.get("type") == "done")
    assert frames[-1]["status"] == "complete"
    assert len(fake_openai.requests) == 1
    messages = fake_openai.requests[0]["body"]["messages"]
    assert messages[0] == {"role": "system", "content": "You are a test bot."}
    assert messages[1] == {"role": "system", "content": language_instruction("ru")}
    assert "Russian" in messages[1]["content"]
    stored = await Message.objects.select_related("conversation").aget(role="user")
    assert stored.language == "ru" and stored.conversation.language == "ru"
    await comm.disconnect()
