"""The chat socket, driven through the real ASGI application."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from chatlab_site.asgi import application
from conversations.models import Conversation, Message
from tests.e2e_client import FrameDecoder
from tests.factories import ConversationFactory, UserFactory
from tests.fakes.openai_server import Behaviour, default_reply

pytestmark = pytest.mark.django_db(transaction=True)
ORIGIN = (b"origin", b"http://localhost")


async def cookie_for(user) -> bytes:
    client = Client()
    await sync_to_async(client.force_login)(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def connect(user=None, path="/ws/chat/", origin=ORIGIN) -> WebsocketCommunicator:
    headers = [origin] if origin else []
    if user is not None:
        headers.append((b"cookie", await cookie_for(user)))
    comm = WebsocketCommunicator(application, path, headers=headers)
    return comm


async def frames_until(comm, predicate, timeout=5.0) -> list[dict]:
    seen = []
    decode = comm.decode = getattr(comm, "decode", None) or FrameDecoder()
    while True:
        frame = decode(await comm.receive_from(timeout=timeout))
        seen.append(frame)
        if predicate(frame):
            return seen


def text_of(frames: list[dict], key: int) -> str:
    return "".join(f["d"] for f in frames if f.get("k") == key and "d" in f)


async def test_it_streams_a_reply_and_saves_it(user, openai_bot, fake_openai):
    comm = await connect(user)
    connected, _ = await comm.connect()
    assert connected
    await comm.send_json_to({"type": "send", "content": "Hello there", "bot": "gpt",
                             "client_id": str(uuid.uuid4())})
    raw = []
    decode = FrameDecoder()
    while not raw or not raw[-1].startswith('{"type":"done"'):
        raw.append(await comm.receive_from(timeout=5))
    frames = [decode(r) for r in raw]
    kinds = [f.get("type", "delta") for f in frames]
    assert kinds[0] == "sent" and kinds[-1] == "done" and set(kinds[1:-1]) == {"delta"}
    # The asking socket's frames are terse: ids in "sent", [k, n, text] deltas, a bare "done".
    sent = json.loads(raw[0])
    assert set(sent) == {"type", "ref", "message_id", "reply", "k", "conversation"}
    # The message's id, so the page can offer Edit on it without a reload.
    assert await Message.objects.filter(pk=sent["message_id"], role="user",
                                        content="Hello there").aexists()
    assert all(isinstance(json.loads(r), list) and len(json.loads(r)) == 3 for r in raw[1:-1])
    assert json.loads(raw[-1]) == {"type": "done", "k": sent["k"], "n": len(raw) - 2}
    key = frames[0]["k"]
    streamed = text_of(frames, key)
    assert streamed.startswith("Echo: Hello there")
    deltas = [f for f in frames if "d" in f]
    assert [f["n"] for f in deltas] == list(range(1, len(deltas) + 1))
    done = frames[-1]
    assert done["status"] == "complete" and done["n"] == len(deltas)
    reply = await Message.objects.aget(pk=done["id"])
    assert reply.content == streamed
    assert reply.completion_tokens == 12 and reply.ttft_ms is not None
    body = fake_openai.requests[-1]["body"]
    assert body["messages"][0] == {"role": "system", "content": "You are a test bot."}
    assert body["messages"][-1] == {"role": "user", "content": "Hello there"}
    assert body["stream"] is True
    await comm.disconnect()


async def test_frames_do_not_queue_on_the_shared_sync_thread(user, openai_bot, fake_openai,
                                                              monkeypatch):
    # Channels' own dispatch hops to the one sync thread before every handler.
    hops: list[str] = []

    async def hop() -> None:
        hops.append("close_old_connections")

    monkeypatch.setattr("channels.consumer.aclose_old_connections", hop)
    comm = await connect(user)
    assert (await comm.connect())[0]
    await comm.send_json_to({"type": "send", "content": "Hello", "bot": "gpt",
                             "client_id": str(uuid.uuid4())})
    while not (await comm.receive_from(timeout=5)).startswith('{"type":"done"'):
        pass
    await comm.send_json_to({"type": "sync"})
    await comm.send_json_to({"type": "nonsense"})
    kinds = [json.loads(await comm.receive_from(timeout=5))["type"] for _ in range(2)]
    assert kinds == ["message", "error"] and hops == []
    await comm.disconnect()


async def test_it_refuses_anonymous_and_foreign_origin(user, settings):
    settings.CHATLAB_GUEST_CHAT = False
    anonymous = await connect(None)
    connected, code = await anonymous.connect()
    assert not connected and code == 4401
    foreign = await connect(user, origin=(b"origin", b"http://evil.example"))
    connected, _ = await foreign.connect()
    assert not connected


async def test_it_refuses_someone_elses_conversation(user, demo_bot):
    theirs = await sync_to_async(ConversationFactory)(bot=demo_bot)
    comm = await connect(user, path=f"/ws/chat/{theirs.pk}/")
    connected, code = await comm.connect()
    assert not connected and code == 4404
    # Stopping or regenerating their messages over my own socket is refused too.
    message = await sync_to_async(Message.objects.create)(
        conversation=theirs, role="assistant", content="secret", status="complete")
    mine = await connect(user)
    assert (await mine.connect())[0]
    for frame in ({"type": "stop", "id": str(message.pk)},
                  {"type": "regenerate", "id": str(message.pk)}):
        await mine.send_json_to(frame)
        answer = await mine.receive_json_from()
        assert answer["type"] == "error" and answer["code"] == "not_found"
        assert "secret" not in json.dumps(answer)
    await mine.disconnect()


async def test_bad_frames_get_errors_and_the_socket_stays_usable(user, demo_bot, settings):
    settings.CHATLAB_MAX_MESSAGE_CHARS = 100
    comm = await connect(user)
    assert (await comm.connect())[0]
    await comm.send_to(text_data="{not json")
    assert (await comm.receive_json_from())["code"] == "invalid"
    await comm.send_json_to(["a", "list"])
    assert (await comm.receive_json_from())["code"] == "invalid"
    await comm.send_json_to({"type": "launch-missiles"})
    assert (await comm.receive_json_from())["code"] == "invalid"
    await comm.send_json_to({"type": "send", "content": "x" * 101})
    assert (await comm.receive_json_from())["code"] == "too_long"
    await comm.send_to(text_data="x" * 10_000)
    assert (await comm.receive_json_from())["code"] == "too_large"
    await comm.send_json_to({"type": "send", "content": "   "})
    assert (await comm.receive_json_from())["code"] == "empty"
    assert await Message.objects.acount() == 0
    await comm.send_json_to({"type": "send", "content": "still works"})
    frames = await frames_until(comm, lambda f: f.get("type") == "done")
    assert frames[-1]["status"] == "complete"
    await comm.disconnect()


async def test_a_resent_message_is_stored_once(user, demo_bot):
    comm = await connect(user)
    assert (await comm.connect())[0]
    client_id = str(uuid.uuid4())
    await comm.send_json_to({"type": "send", "content": "once", "client_id": client_id})
    first = await frames_until(comm, lambda f: f.get("type") == "done")
    conversation_id = first[0]["conversation"]
    await comm.disconnect()
    again = await connect(user, path=f"/ws/chat/{conversation_id}/")
    assert (await again.connect())[0]
    await again.send_json_to({"type": "send", "content": "once", "client_id": client_id})
    sent = await again.receive_json_from()
    assert sent["type"] == "sent" and sent["reply"]["id"] == first[0]["reply"]["id"]
    assert sent["message"]["content"] == "once" and sent["reply"]["status"] == "complete"
    assert await Message.objects.filter(role="user").acount() == 1
    assert await Message.objects.filter(role="assistant").acount() == 1
    await again.disconnect()


async def test_a_second_tab_follows_the_reply(user, openai_bot, fake_openai):
    fake_openai.configure(rate=200, tokens=30)
    conversation = await sync_to_async(ConversationFactory)(owner=user, bot=openai_bot)
    path = f"/ws/chat/{conversation.pk}/"
    first, second = await connect(user, path), await connect(user, path)
    assert (await first.connect())[0] and (await second.connect())[0]
    await first.send_json_to({"type": "send", "content": "hi both"})
    mine = await frames_until(first, lambda f: f.get("type") == "done")
    theirs = await frames_until(second, lambda f: f.get("type") == "done")
    assert theirs[0]["type"] == "sent" and theirs[0]["message"]["content"] == "hi both"
    # The other tab asked for a snapshot when it saw the reply start, then got the rest.
    snapshot = next(f for f in theirs if f.get("type") == "snapshot")
    rest = [f for f in theirs if "d" in f and f["n"] > snapshot["n"]]
    assert [f["n"] for f in rest] == list(range(snapshot["n"] + 1, snapshot["n"] + 1 + len(rest)))
    assert snapshot["content"] + "".join(f["d"] for f in rest) == text_of(mine, mine[0]["k"])
    assert text_of(mine, mine[0]["k"]).startswith("Echo: hi both")
    await first.disconnect()
    await second.disconnect()


async def test_a_reconnecting_tab_gets_a_snapshot_then_the_rest(user, openai_bot, fake_openai):
    fake_openai.configure(rate=40, tokens=40)  # about one second of streaming
    comm = await connect(user)
    assert (await comm.connect())[0]
    await comm.send_json_to({"type": "send", "content": "long one"})
    start = await frames_until(comm, lambda f: "d" in f and f["n"] >= 3)
    conversation_id = start[0]["conversation"]
    await comm.disconnect()  # the tab closes mid-reply; the reply goes on
    await asyncio.sleep(0.2)
    back = await connect(user, path=f"/ws/chat/{conversation_id}/")
    assert (await back.connect())[0]
    frames = await frames_until(back, lambda f: f.get("type") == "done")
    snapshot = next(f for f in frames if f.get("type") == "snapshot")
    later = [f for f in frames if "d" in f and f["n"] > snapshot["n"]]
    text = snapshot["content"] + "".join(f["d"] for f in sorted(later, key=lambda f: f["n"]))
    reply = await Message.objects.aget(pk=frames[-1]["id"])
    assert reply.status == "complete" and text == reply.content
    assert len(reply.content.split()) == 40
    await back.disconnect()


async def test_closing_the_tab_does_not_stop_the_reply(user, openai_bot, fake_openai):
    fake_openai.configure(rate=100, tokens=30)
    comm = await connect(user)
    assert (await comm.connect())[0]
    await comm.send_json_to({"type": "send", "content": "keep going"})
    frames = await frames_until(comm, lambda f: "d" in f)
    reply_id = frames[0]["reply"]["id"]
    await comm.disconnect()
    for _ in range(50):
        reply = await Message.objects.aget(pk=reply_id)
        if reply.status == "complete":
            break
        await asyncio.sleep(0.1)
    assert reply.status == "complete" and len(reply.content.split()) == 30


async def test_stop_keeps_what_was_written(user, openai_bot, fake_openai):
    fake_openai.configure(rate=20, tokens=200)
    comm = await connect(user)
    assert (await comm.connect())[0]
    await comm.send_json_to({"type": "send", "content": "stop me"})
    frames = await frames_until(comm, lambda f: "d" in f and f["n"] >= 2)
    reply_id = frames[0]["reply"]["id"]
    await comm.send_json_to({"type": "stop", "id": reply_id})
    rest = await frames_until(comm, lambda f: f.get("type") == "done")
    assert rest[-1]["status"] == "cancelled"
    reply = await Message.objects.aget(pk=reply_id)
    full = default_reply([{"role": "user", "content": "stop me"}], 200)
    assert reply.status == "cancelled" and reply.content.startswith("Echo: stop")
    assert full.startswith(reply.content) and len(reply.content) < len(full)
    await comm.disconnect()


async def test_regenerate_keeps_the_old_reply_as_superseded(user, demo_bot):
    comm = await connect(user)
    assert (await comm.connect())[0]
    await comm.send_json_to({"type": "send", "content": "again please"})
    first = await frames_until(comm, lambda f: f.get("type") == "done")
    await comm.send_json_to({"type": "regenerate", "id": first[-1]["id"]})
    second = await frames_until(comm, lambda f: f.get("type") == "done")
    assert second[0]["type"] == "regenerated" and second[-1]["id"] != first[-1]["id"]
    old = await Message.objects.aget(pk=first[-1]["id"])
    new = await Message.objects.aget(pk=second[-1]["id"])
    assert old.superseded_at is not None and new.superseded_at is None
    assert new.reply_to_id == old.reply_to_id and new.status == "complete"
    await comm.disconnect()


@pytest.mark.parametrize("behaviour, reason", [
    (Behaviour(status=429, retry_after=0), "rate-limiting"),
    (Behaviour(status=500, retry_after=0), "internal error"),
])
async def test_upstream_errors_fail_readably_after_bounded_attempts(
    user, openai_bot, fake_openai, behaviour, reason
):
    fake_openai.script(behaviour, behaviour)
    comm = await connect(user)
    assert (await comm.connect())[0]
    await comm.send_json_to({"type": "send", "content": "will fail"})
    frames = await frames_until(comm, lambda f: f.get("type") == "done", timeout=15)
    done = frames[-1]
    assert done["status"] == "failed" and reason in done["error"]
    # max_retries=1 on the provider: one attempt plus one retry, never more.
    assert len(fake_openai.requests) == 2
    user_message = await Message.objects.aget(role="user")
    assert user_message.content == "will fail"
    # Retry starts a new reply that succeeds once the upstream recovers.
    await comm.send_json_to({"type": "regenerate", "id": frames[-1]["id"]})
    again = await frames_until(comm, lambda f: f.get("type") == "done")
    assert again[-1]["status"] == "complete"
    await comm.disconnect()


async def test_a_hanging_upstream_times_out(user, openai_bot, fake_openai):
    provider = openai_bot.provider
    provider.timeout, provider.max_retries = 1.0, 1
    await provider.asave()
    fake_openai.script(Behaviour(hang=True), Behaviour(hang=True))
    comm = await connect(user)
    assert (await comm.connect())[0]
    await comm.send_json_to({"type": "send", "content": "hello?"})
    frames = await frames_until(comm, lambda f: f.get("type") == "done", timeout=20)
    assert frames[-1]["status"] == "failed"
    assert "did not answer in time" in frames[-1]["error"]
    assert len(fake_openai.requests) == 2
    await comm.disconnect()


async def test_a_deactivated_user_is_cut_off_at_the_next_frame(user, demo_bot):
    comm = await connect(user)
    assert (await comm.connect())[0]
    await sync_to_async(type(user).objects.filter(pk=user.pk).update)(is_active=False)
    await comm.send_json_to({"type": "send", "content": "hi"})
    assert (await comm.receive_json_from())["code"] == "deactivated"
    assert (await comm.receive_output())["type"] == "websocket.close"
    assert await Message.objects.acount() == 0
