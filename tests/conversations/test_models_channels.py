"""Bots on gpt-5-style, o-series, Azure-style and Ollama-style models answer through the socket,
the REST API, /v1 (the official openai SDK as client) and the title task, against a fake that
refuses what OpenAI refuses."""

from __future__ import annotations

import asyncio
import uuid

import httpx2
import openai
import pytest
from asgiref.sync import sync_to_async

from accounts.services.tokens import api_token_create
from chatlab_site.asgi import application
from conversations.models import Bot, Conversation, Message
from conversations.services.titles import conversation_title
from tests.factories import BotFactory, ConversationFactory, MessageFactory, ProviderFactory
from tests.test_consumer import connect

pytestmark = pytest.mark.django_db(transaction=True)

LIMITS = {"max_tokens", "max_completion_tokens", "temperature", "reasoning_effort"}
# model, and the parameters each request must carry (of LIMITS) once the bot is right.
STYLES = {
    "gpt-5": ("gpt-5-mini", {"max_completion_tokens", "reasoning_effort"}),
    "o-series": ("o3-mini", {"max_completion_tokens", "reasoning_effort"}),
    # An Azure deployment: its name does not tell the model, a gpt-5 behind it refuses the
    # temperature the name-based guess sends; the bot heals on its first reply.
    "azure": ("prod-chat", {"max_completion_tokens"}),
    "ollama": ("llama3.2", {"max_tokens", "temperature"}),
}


@pytest.fixture(params=list(STYLES))
def style(request, fake_openai) -> str:
    return request.param


@pytest.fixture
def bot(style, fake_openai) -> Bot:
    model = STYLES[style][0]
    provider = ProviderFactory(name="Fake", kind="openai", base_url=fake_openai.url,
                               api_key="sk-test-secret-key", timeout=5, max_retries=0)
    bot = BotFactory(provider=provider, model=model, slug="gpt", name="GPT")
    if style == "azure":
        fake_openai.reasoning_models.add(model)
        # What the bot holds when its provider is Azure: max_completion_tokens, temperature on.
        bot.output_limit_param, bot.accepts_temperature = "max_completion_tokens", True
        bot.save()
    return bot


def assert_sent_as_the_model_takes_it(fake_openai, style: str) -> None:
    """Every request (replies and titles alike) as the model takes it; only the Azure bot's
    first was refused, and retried."""
    sent = [set(r["body"]) & LIMITS for r in fake_openai.requests]
    if style == "azure":
        assert sent[0] == {"max_completion_tokens", "temperature"}
        assert not Bot.objects.get(slug="gpt").accepts_temperature
        sent = sent[1:]
    assert sent and all(params == STYLES[style][1] for params in sent)


async def test_the_socket(user, bot, style, fake_openai):
    comm = await connect(user)
    assert (await comm.connect())[0]
    await comm.send_json_to({"type": "send", "content": "Hello there", "bot": "gpt",
                             "client_id": str(uuid.uuid4())})
    while not (raw := await comm.receive_from(timeout=5)).startswith('{"type":"done"'):
        pass
    await comm.disconnect()
    reply = await Message.objects.filter(role="assistant").alatest("created_at")
    assert reply.status == "complete" and reply.content.startswith("Echo: Hello there")
    await sync_to_async(assert_sent_as_the_model_takes_it)(fake_openai, style)


async def test_rest_send(user, bot, style, fake_openai):
    from django.test import AsyncClient

    token = (await sync_to_async(api_token_create)(user=user, name="t"))[1]
    conversation = await sync_to_async(ConversationFactory)(owner=user, bot=bot)
    sent = await AsyncClient().post(f"/api/v1/conversations/{conversation.pk}/messages/",
                                    {"content": "REST hello"}, content_type="application/json",
                                    headers={"Authorization": f"Bearer {token}"})
    assert sent.status_code == 202
    for _ in range(100):
        reply = await Message.objects.aget(pk=sent.json()["reply"]["id"])
        if reply.status != "streaming":
            break
        await asyncio.sleep(0.05)
    assert reply.status == "complete" and reply.content.startswith("Echo: REST hello")
    await sync_to_async(assert_sent_as_the_model_takes_it)(fake_openai, style)


async def test_v1_with_the_openai_sdk(user, bot, style, fake_openai):
    token = (await sync_to_async(api_token_create)(user=user, name="t"))[1]
    http = openai.DefaultAsyncHttpxClient(transport=httpx2.ASGITransport(app=application))
    async with openai.AsyncOpenAI(base_url="http://testserver/v1", api_key=token,
                                  max_retries=0, http_client=http) as client:
        answer = await client.chat.completions.create(
            model="gpt", messages=[{"role": "user", "content": "v1 hello"}],
            max_completion_tokens=40, temperature=0.2, reasoning_effort="low")
        assert answer.choices[0].message.content.startswith("Echo: v1 hello")
        body = fake_openai.requests[-1]["body"]
        await sync_to_async(assert_sent_as_the_model_takes_it)(fake_openai, style)
        if "reasoning_effort" in body:
            assert body["reasoning_effort"] == "low"  # the caller's, where the model takes one
        if "temperature" in body:
            assert body["temperature"] == 0.2
        assert body.get("max_tokens", body.get("max_completion_tokens")) == 40
        streamed = await client.chat.completions.create(
            model="gpt", messages=[{"role": "user", "content": "again"}], stream=True,
            max_tokens=30)
        text = "".join([c.choices[0].delta.content or "" async for c in streamed if c.choices])
        assert text.startswith("Echo: again")


def test_the_title_task(user, bot, style, fake_openai, settings):
    settings.CHATLAB_AUTO_TITLES = True
    conversation = ConversationFactory(owner=user, bot=bot, title="How do I make soup?")
    question = MessageFactory(conversation=conversation, content="How do I make soup?")
    MessageFactory(conversation=conversation, role="assistant", content="Like this.",
                   reply_to=question)
    from tests.fakes.openai_server import Behaviour

    fake_openai.script(*[Behaviour(text="Soup making")] * 2)
    assert conversation_title(conversation_id=conversation.pk) == "Soup making"
    assert Conversation.objects.get(pk=conversation.pk).title == "Soup making"
    assert_sent_as_the_model_takes_it(fake_openai, style)


@pytest.mark.parametrize("field, value, code", [
    ("reasoning_effort", "extreme", "invalid_value"),
    ("reasoning_effort", 3, "invalid_value"),
    ("max_completion_tokens", 0, None),
    ("max_completion_tokens", "many", None),
])
def test_v1_refuses_a_bad_effort_or_limit_readably(field, value, code):
    from conversations.api.openai_request import OpenAIError, parse

    with pytest.raises(OpenAIError) as raised:
        parse({"model": "gpt", "messages": [{"role": "user", "content": "hi"}], field: value})
    assert (raised.value.status, raised.value.param, raised.value.code) == (400, field, code)
