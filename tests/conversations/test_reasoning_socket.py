"""The chat socket's frames for a reasoning model (issue #18): the asking socket and a tab that
follows get the reasoning in the deltas' fourth element, a snapshot carries it so far, and the
done frame says how long the model thought."""

from __future__ import annotations

import json
import uuid

import pytest

from conversations.models import Message
from tests.test_consumer import connect, frames_until

pytestmark = pytest.mark.django_db(transaction=True)

THOUGHT = "Thinking about: why is the sky blue"


async def test_the_socket_streams_reasoning_in_the_same_frames(user, reasoning_bot, fake_openai):
    fake_openai.configure(ttft=0.0, rate=100, tokens=10)
    comm = await connect(user)
    assert (await comm.connect())[0]
    await comm.send_json_to({"type": "send", "content": "why is the sky blue", "bot": "r1",
                             "client_id": str(uuid.uuid4())})
    raw: list[str] = []
    while not raw or not raw[-1].startswith('{"type":"done"'):
        raw.append(await comm.receive_from(timeout=5))
    deltas = [json.loads(r) for r in raw[1:-1]]
    assert all(isinstance(d, list) and len(d) in (3, 4) for d in deltas)
    assert "".join(d[3] for d in deltas if len(d) == 4) == THOUGHT
    assert "".join(d[2] for d in deltas).startswith("Echo:")
    assert any(len(d) == 3 for d in deltas)  # answer-only frames stay three long
    done = json.loads(raw[-1])
    reply = await Message.objects.aget(role="assistant")
    assert reply.reasoning == THOUGHT and done["reasoning_ms"] == reply.reasoning_ms
    await comm.disconnect()


async def test_a_tab_that_joins_midway_gets_the_reasoning_so_far(
        user, reasoning_bot, fake_openai):
    fake_openai.configure(ttft=0.0, rate=10, tokens=10)  # 0.7 s of thinking, then 1 s of text
    writer = await connect(user)
    assert (await writer.connect())[0]
    await writer.send_json_to({"type": "send", "content": "why is the sky blue", "bot": "r1",
                               "client_id": str(uuid.uuid4())})
    sent = await frames_until(writer, lambda f: f.get("type") == "sent")
    conversation = sent[-1]["conversation"]
    await frames_until(writer, lambda f: f.get("n", 0) >= 2 and f.get("r"))  # thinking
    follower = await connect(user, path=f"/ws/chat/{conversation}/")
    assert (await follower.connect())[0]
    frames = await frames_until(follower, lambda f: f.get("type") == "done", timeout=5)
    snapshot = next(f for f in frames if f.get("type") == "snapshot")
    assert snapshot["reasoning"].startswith("Thinking")  # joined while the model thought
    seen = snapshot["reasoning"] + "".join(
        f.get("r", "") for f in frames if "d" in f and f["n"] > snapshot["n"])
    assert seen == THOUGHT
    await writer.disconnect()
    await follower.disconnect()
