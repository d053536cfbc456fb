"""The OpenAI-compatible endpoint (/v1): the official openai SDK against a running daphne, and
the finer points through Django's AsyncClient."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import openai
import pytest
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.test import AsyncClient

from accounts.models import RolePolicy
from accounts.services.tokens import api_token_create
from conversations.api.openai_request import OpenAIError, parse
from conversations.models import Conversation, Message
from conversations.services.context import language_instruction
from tests.fakes.openai_server import FakeOpenAI, default_reply
from tests.stack import Stack, postgres_available, stack

SYSTEM_PROMPT = "You are the endpoint test bot."

SETUP = """
from accounts.models import User
from accounts.services.tokens import api_token_create
from conversations.models import Bot, Conversation, Message, Provider
provider = Provider.objects.create(name="Fake OpenAI", kind="openai", base_url={url!r},
                                   api_key="sk-x", timeout=5, max_retries=0)
Bot.objects.create(slug="gpt", name="GPT", provider=provider, model="gpt-4o-mini",
                   system_prompt={system!r}, max_output_tokens=64)
user = User.objects.create_user(email="sdk@example.com", password="x-unused-x")
print(api_token_create(user=user, name="sdk")[1])
# Someone who has sent today's 500 messages (the user role's default allowance).
spent = User.objects.create_user(email="spent@example.com", password="x-unused-x")
conversation = Conversation.objects.create(owner=spent, bot=Bot.objects.get(slug="gpt"))
Message.objects.bulk_create([Message(conversation=conversation, role="user", content="hi")
                             for _ in range(500)])
print(api_token_create(user=spent, name="spent")[1])
"""

COUNT = """
from conversations.models import Message
mine = Message.objects.filter(conversation__owner__email="sdk@example.com")
print(mine.filter(role="user").count(), mine.filter(role="assistant", status="complete").count())
"""


@dataclass
class Site:
    stack: Stack
    url: str
    fake: FakeOpenAI
    token: str
    spent_token: str

    def client(self, token: str | None = None, **kwargs) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=f"{self.url}/v1", api_key=token or self.token,
                                  max_retries=0, **kwargs)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with FakeOpenAI() as fake, stack(
        tmp_path_factory.mktemp("v1"), postgres=postgres_available(), redis=False
    ) as s:
        out = s.shell(SETUP.format(url=fake.url, system=SYSTEM_PROMPT))
        token, spent = [w for w in out.split() if w.startswith("chl_")]
        yield Site(stack=s, url=s.daphne(), fake=fake, token=token, spent_token=spent)


@pytest.fixture
def fake(site: Site) -> FakeOpenAI:
    site.fake.reset()
    site.fake.configure(ttft=0.0, rate=0.0, tokens=12)
    return site.fake


# The official SDK against a running server -----------------------------------------------------

async def test_the_models_are_the_bots_i_may_use(site: Site) -> None:
    async with site.client() as client:
        models = await client.models.list()
        ids = [m.id for m in models.data]
        assert "gpt" in ids and "demo" in ids
        assert (await client.models.retrieve("gpt")).owned_by == "chatlab"


async def test_a_plain_answer_is_the_models_reply(site: Site, fake: FakeOpenAI) -> None:
    async with site.client() as client:
        completion = await client.chat.completions.create(
            model="gpt", messages=[{"role": "system", "content": "Be brief."},
                                   {"role": "user", "content": "hello there"}])
    expected = default_reply([{"role": "user", "content": "hello there"}], 12)
    assert completion.object == "chat.completion" and completion.model == "gpt"
    assert completion.choices[0].message.content == expected
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.completion_tokens == 12
    # The bot's system prompt reaches the model first; the caller's own follows.
    sent = fake.requests[-1]["body"]["messages"]
    assert sent[0] == {"role": "system", "content": SYSTEM_PROMPT}
    # Then the language to answer in (detected from the last user message).
    assert sent[1] == {"role": "system", "content": language_instruction("en")}
    assert sent[2:] == [{"role": "system", "content": "Be brief."},
                        {"role": "user", "content": "hello there"}]
    # The call is kept as a conversation marked as the OpenAI endpoint's.
    channels = site.stack.shell(
        "from conversations.models import Conversation\n"
        "print(*Conversation.objects.filter(owner__email='sdk@example.com')"
        ".values_list('channel', flat=True).distinct())")
    assert channels.strip().splitlines()[-1] == "openai"


async def test_a_streamed_answer_joins_to_the_same_text_and_ends_with_usage(
        site: Site, fake: FakeOpenAI) -> None:
    fake.configure(rate=200, tokens=30)
    async with site.client() as client:
        stream = await client.chat.completions.create(
            model="gpt", messages=[{"role": "user", "content": [{"type": "text", "text": "go"}]}],
            stream=True, stream_options={"include_usage": True})
        chunks = [chunk async for chunk in stream]
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == default_reply([{"role": "user", "content": "go"}], 30)
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop" and set(finishes[:-1]) == {None}
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 30


async def test_max_tokens_and_temperature_reach_the_model(site: Site, fake: FakeOpenAI) -> None:
    fake.configure(tokens=40)
    async with site.client() as client:
        short = await client.chat.completions.create(
            model="gpt", messages=[{"role": "user", "content": "x"}], max_tokens=5,
            temperature=0.1)
        capped = await client.chat.completions.create(
            model="gpt", messages=[{"role": "user", "content": "y"}],
            max_completion_tokens=100_000)
    first, second = (r["body"] for r in fake.requests[-2:])
    assert first["max_tokens"] == 5 and first["temperature"] == 0.1
    assert short.choices[0].finish_reason == "length"
    assert second["max_tokens"] == 64  # the bot's own cap wins
    assert capped.usage.completion_tokens == 40


async def test_errors_are_the_sdks_own_exceptions(site: Site, fake: FakeOpenAI) -> None:
    messages = [{"role": "user", "content": "hi"}]
    async with site.client(site.spent_token) as spent:
        with pytest.raises(openai.RateLimitError) as quota:
            await spent.chat.completions.create(model="gpt", messages=messages)
    assert quota.value.response.headers["retry-after"].isdigit()
    assert quota.value.code == "insufficient_quota"
    async with site.client("chl_not-a-real-token") as stranger:
        with pytest.raises(openai.AuthenticationError):
            await stranger.chat.completions.create(model="gpt", messages=messages)
        with pytest.raises(openai.AuthenticationError):
            await stranger.models.list()
    async with site.client() as client:
        with pytest.raises(openai.BadRequestError) as tools:
            await client.chat.completions.create(
                model="gpt", messages=messages,
                tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}])
        assert tools.value.param == "tools" and "not supported" in tools.value.message
        with pytest.raises(openai.NotFoundError) as unknown:
            await client.chat.completions.create(model="no-such-bot", messages=messages)
        assert unknown.value.code == "model_not_found"
    assert fake.requests == []  # nothing refused reached the model


def counts(site: Site) -> list[int]:
    # The last line: `manage.py shell` may first print what it imported.
    return [int(n) for n in site.stack.shell(COUNT).strip().splitlines()[-1].split()]


async def test_calls_are_stored_like_any_other_reply(site: Site, fake: FakeOpenAI) -> None:
    before = counts(site)
    async with site.client() as client:
        await client.chat.completions.create(model="gpt", messages=[
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": "first answer"},
            {"role": "user", "content": "second question"}])
    after = counts(site)
    # One conversation with the last user message and the reply; not the whole history.
    assert after == [before[0] + 1, before[1] + 1]
    assert fake.requests[-1]["body"]["messages"][2:] == [
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": "second question"}]


# Finer points in-process (AsyncClient) ---------------------------------------------------------

def refused(body: dict) -> OpenAIError:
    with pytest.raises(OpenAIError) as info:
        parse(body)
    assert info.value.status == 400
    return info.value


def test_what_is_refused_says_why() -> None:
    user = [{"role": "user", "content": "hi"}]
    assert refused({"model": "gpt", "messages": user, "tool_choice": "auto"}).param == "tool_choice"
    assert refused({"model": "gpt", "messages": user, "n": 2}).param == "n"
    image = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]
    assert "image_url" in refused({"model": "gpt", "messages": image}).message
    assert refused({"model": "gpt", "messages": user, "bogus": 1}).code == "unknown_parameter"
    assert refused({"model": "gpt", "messages": user, "temperature": 3}).param == "temperature"
    assert refused({"model": "gpt", "messages": user, "max_tokens": 0}).param == "max_tokens"
    assert refused({"model": "gpt", "messages": [{"role": "tool", "content": "1"}]}).message
    assert refused({"model": "gpt", "messages": [{"role": "system", "content": "s"}]}).message
    assert refused({"messages": user}).param == "model"
    assert refused({"model": "gpt", "messages": []}).param == "messages"
    parsed = parse({"model": "gpt", "messages": user, "n": 1, "top_p": 0.5, "stop": None,
                    "tools": None, "max_tokens": 9, "max_completion_tokens": 7})
    assert parsed.max_tokens == 7 and parsed.last_user == "hi" and not parsed.stream


@pytest.fixture
def headers(user) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_token_create(user=user, name='v1')[1]}"}


async def post(client: AsyncClient, headers: dict, body: object):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    # As daphne does (Django's ASGIHandler): a thread of its own for the request's sync
    # middleware. Without it the test client runs that middleware on asgiref's one shared
    # thread, which the reply also needs while the view waits for it.
    async with ThreadSensitiveContext():
        return await client.post("/v1/chat/completions", data, content_type="application/json",
                                 headers=headers)


@pytest.mark.django_db(transaction=True)
async def test_auth_role_and_body_errors_use_openais_shape(user, headers, openai_bot) -> None:
    client = AsyncClient()
    body = {"model": "gpt", "messages": [{"role": "user", "content": "hi"}]}
    missing = await post(client, {}, body)
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "missing_api_key"
    assert set(missing.json()["error"]) == {"message", "type", "param", "code"}
    bad_json = await post(client, headers, "{not json")
    assert bad_json.status_code == 400
    assert bad_json.json()["error"]["type"] == "invalid_request_error"
    assert (await client.get("/v1/chat/completions", headers=headers)).status_code == 405
    # A browser session is not enough: tokens only, so no CSRF exposure.
    await sync_to_async(client.force_login)(user)
    assert (await post(client, {}, body)).status_code == 401
    await RolePolicy.objects.filter(role="user").aupdate(api_access=False)
    denied = await post(client, headers, body)
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "api_access_denied"
    assert (await client.get("/v1/models", headers=headers)).status_code == 403
    assert await Message.objects.acount() == 0


@pytest.mark.django_db(transaction=True)
async def test_the_role_caps_max_tokens(user, headers, openai_bot, fake_openai) -> None:
    await RolePolicy.objects.filter(role="user").aupdate(max_reply_tokens=20)
    response = await post(AsyncClient(), headers, {
        "model": "gpt", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 500})
    assert response.status_code == 200
    assert fake_openai.requests[-1]["body"]["max_tokens"] == 20
    assert response.json()["choices"][0]["message"]["content"].startswith("Echo: hi")


@pytest.mark.django_db(transaction=True)
async def test_a_client_that_leaves_does_not_stop_the_reply(user, headers, openai_bot,
                                                            fake_openai) -> None:
    fake_openai.configure(rate=100, tokens=40)
    response = await post(AsyncClient(), headers, {
        "model": "gpt", "stream": True, "messages": [{"role": "user", "content": "leave"}]})
    assert response.status_code == 200 and response["Content-Type"] == "text/event-stream"
    chunks = response.streaming_content
    first = await anext(chunks)
    assert json.loads(first.decode()[6:])["choices"][0]["delta"]["role"] == "assistant"
    await anext(chunks)
    await chunks.aclose()  # the client goes away mid-reply
    for _ in range(100):
        reply = await Message.objects.aget(role="assistant")
        if reply.status != "streaming":
            break
        await asyncio.sleep(0.05)
    assert reply.status == "complete"
    assert reply.content == default_reply([{"role": "user", "content": "leave"}], 40)
    conversation = await Conversation.objects.aget()
    assert conversation.title == "leave" and await conversation.messages.acount() == 2


@pytest.mark.django_db(transaction=True)
async def test_a_failed_reply_is_an_error_stream_or_not(user, headers, openai_bot,
                                                        fake_openai) -> None:
    from tests.fakes.openai_server import Behaviour

    fake_openai.script(Behaviour(status=400), Behaviour(status=400))
    body = {"model": "gpt", "messages": [{"role": "user", "content": "fail"}]}
    plain = await post(AsyncClient(), headers, body)
    assert plain.status_code == 502 and plain["x-should-retry"] == "false"
    assert plain.json()["error"]["code"] == "upstream_error"
    streamed = await post(AsyncClient(), headers, {**body, "stream": True})
    raw = b"".join([chunk async for chunk in streamed.streaming_content]).decode()
    last = raw.strip().split("\n\n")[-1]
    assert json.loads(last[6:])["error"]["code"] == "upstream_error" and "[DONE]" not in raw
    assert await Message.objects.filter(role="assistant", status="failed").acount() == 2


def test_unknown_models_and_paths_are_json_404s(client, user, headers, demo_bot) -> None:
    response = client.get(f"/v1/models/{uuid.uuid4().hex}", headers=headers)
    assert response.status_code == 404 and response.json()["error"]["code"] == "model_not_found"
    assert client.get("/v1/models/demo", headers=headers).json()["id"] == "demo"
    elsewhere = client.post("/v1/embeddings", headers=headers)
    assert elsewhere.status_code == 404 and elsewhere.json()["error"]["code"] == "unknown_url"
    # Under /api/ too (a malformed id does not match the URL pattern): JSON, not a page.
    malformed = client.get("/api/v1/conversations/not-a-uuid/", headers=headers)
    assert malformed.status_code == 404 and malformed.json()["error"]["code"] == "not_found"
    assert client.get("/no-such-page/")["Content-Type"].startswith("text/html")
