"""Reasoning over the REST API, its SSE stream and the OpenAI-compatible /v1 (issue #18): the
message carries `reasoning` apart from `content`, SSE deltas carry the reasoning frames, and
/v1 passes it through as `reasoning_content` (read back with the official openai SDK)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import openai
import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient
from rest_framework.test import APIClient

from accounts.services.tokens import api_token_create
from conversations.models import Message
from tests.factories import ConversationFactory, MessageFactory
from tests.fakes.openai_server import FakeOpenAI
from tests.stack import Stack, postgres_available, stack
from tests.test_api import read_stream, sse_events

THOUGHT = "Thinking about: why is the sky blue"


@pytest.mark.django_db
def test_the_rest_message_carries_reasoning_apart(user, demo_bot):
    conversation = ConversationFactory(owner=user, bot=demo_bot)
    reply = MessageFactory(conversation=conversation, role="assistant", content="Rayleigh.",
                           reasoning="Light scatters.", reasoning_ms=1200, reasoning_tokens=7)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=user, name='t')[1]}")
    body = api.get(f"/api/v1/messages/{reply.pk}/").json()
    assert (body["content"], body["reasoning"]) == ("Rayleigh.", "Light scatters.")
    assert (body["reasoning_ms"], body["reasoning_tokens"]) == (1200, 7)
    listed = api.get(f"/api/v1/conversations/{conversation.pk}/messages/").json()["results"]
    assert listed[-1]["reasoning"] == "Light scatters."


@pytest.mark.django_db(transaction=True)
async def test_sse_deltas_carry_the_reasoning(user, reasoning_bot, fake_openai):
    fake_openai.configure(ttft=0.05, rate=40, tokens=10)
    raw = await sync_to_async(api_token_create)(user=user, name="sse")
    headers = {"Authorization": f"Bearer {raw[1]}"}
    client = AsyncClient()
    conversation = await sync_to_async(ConversationFactory)(owner=user, bot=reasoning_bot)
    sent = await client.post(f"/api/v1/conversations/{conversation.pk}/messages/",
                             {"content": "why is the sky blue"},
                             content_type="application/json", headers=headers)
    assert sent.status_code == 202
    events = sse_events(await read_stream(client, sent.json()["stream_url"], headers))
    assert events[0][0] == "snapshot" and "reasoning" in events[0][1]
    deltas = [d for kind, d in events if kind == "delta"]
    reasoning = events[0][1]["reasoning"] + "".join(d.get("reasoning", "") for d in deltas)
    assert reasoning == THOUGHT
    assert "Thinking" not in events[0][1]["content"] + "".join(d["text"] for d in deltas)
    done = events[-1]
    assert done[0] == "done" and done[1]["reasoning_ms"] is not None
    reply = await Message.objects.aget(pk=sent.json()["reply"]["id"])
    assert reply.reasoning == THOUGHT


# /v1 through the official SDK, against a running daphne ------------------------------------

SETUP = """
from accounts.models import User
from accounts.services.tokens import api_token_create
from conversations.models import Bot, Provider
provider = Provider.objects.create(name="Fake OpenAI", kind="openai", base_url={url!r},
                                   api_key="sk-x", timeout=5, max_retries=0)
Bot.objects.create(slug="r1", name="R1", provider=provider, model="deepseek-r1")
Bot.objects.create(slug="g5", name="G5", provider=provider, model="gpt-5-mini")
user = User.objects.create_user(email="thinker@example.com", password="x-unused-x")
print(api_token_create(user=user, name="sdk")[1])
"""


@dataclass
class Site:
    stack: Stack
    url: str
    fake: FakeOpenAI
    token: str

    def client(self) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=f"{self.url}/v1", api_key=self.token, max_retries=0)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with FakeOpenAI() as fake, stack(
        tmp_path_factory.mktemp("v1-reasoning"), postgres=postgres_available(), redis=False
    ) as s:
        token = next(w for w in s.shell(SETUP.format(url=fake.url)).split()
                     if w.startswith("chl_"))
        yield Site(stack=s, url=s.daphne(), fake=fake, token=token)


@pytest.fixture
def fake(site: Site) -> FakeOpenAI:
    site.fake.reset()
    site.fake.configure(ttft=0.0, rate=100, tokens=12)
    return site.fake


async def test_v1_answers_carry_reasoning_content(site: Site, fake: FakeOpenAI) -> None:
    async with site.client() as client:
        completion = await client.chat.completions.create(
            model="r1", messages=[{"role": "user", "content": "why is the sky blue"}])
    message = completion.choices[0].message
    assert message.model_extra["reasoning_content"] == THOUGHT
    assert getattr(message, "reasoning_content") == THOUGHT
    assert "Thinking" not in message.content


async def test_v1_streams_reasoning_content_before_the_content(
        site: Site, fake: FakeOpenAI) -> None:
    async with site.client() as client:
        stream = await client.chat.completions.create(
            model="r1", messages=[{"role": "user", "content": "why is the sky blue"}],
            stream=True)
        chunks = [chunk async for chunk in stream]
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    thoughts = [(d.model_extra or {}).get("reasoning_content") for d in deltas]
    assert "".join(t for t in thoughts if t) == THOUGHT
    text = "".join(d.content or "" for d in deltas)
    assert text.startswith("Echo:") and "Thinking" not in text
    first_text = next(i for i, d in enumerate(deltas) if d.content)
    last_thought = max(i for i, t in enumerate(thoughts) if t)
    assert last_thought < first_text


async def test_v1_usage_reports_reasoning_tokens(site: Site, fake: FakeOpenAI) -> None:
    async with site.client() as client:
        completion = await client.chat.completions.create(
            model="g5", messages=[{"role": "user", "content": "think"}])
        stream = await client.chat.completions.create(
            model="g5", messages=[{"role": "user", "content": "think"}], stream=True,
            stream_options={"include_usage": True})
        chunks = [chunk async for chunk in stream]
    for usage in (completion.usage, chunks[-1].usage):
        assert usage.completion_tokens_details.reasoning_tokens == 16
        assert usage.completion_tokens == 12 + 16  # included, not added on top


async def test_v1_reasoning_sent_back_by_a_client_never_reaches_the_model(
        site: Site, fake: FakeOpenAI) -> None:
    async with site.client() as client:
        await client.chat.completions.create(model="r1", messages=[
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "Echo: first",
             "reasoning_content": "secret thoughts"},  # type: ignore[typeddict-unknown-key]
            {"role": "user", "content": "second"}])
    sent = fake.requests[-1]["body"]["messages"]
    assert "secret thoughts" not in str(sent)
    assert {"role": "assistant", "content": "Echo: first"} in sent
