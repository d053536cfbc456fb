"""The provider layer sends what each model accepts and heals a bot that asks for too much."""

from __future__ import annotations

import logging

import pytest

from conversations.models import Bot, Provider
from conversations.providers import ChatRequest, ProviderError, ReasoningDelta, Usage, backend_for
from conversations.providers.capabilities import Capabilities
from conversations.providers.openai_compat import OpenAICompatibleBackend
from tests.factories import BotFactory, ProviderFactory
from tests.fakes.openai_server import REASONING_TOKENS, FakeOpenAI

HI = [{"role": "user", "content": "hi"}]
OLD_BODY = Capabilities(output_limit_param="max_tokens", accepts_temperature=True)


def backend(fake: FakeOpenAI, kind: str = "compatible") -> OpenAICompatibleBackend:
    return OpenAICompatibleBackend(base_url=fake.url, api_key="sk-test-secret-key", timeout=5,
                                   max_retries=0, kind=kind)


def request(model: str, capabilities: Capabilities | None = None, **extra) -> ChatRequest:
    return ChatRequest(model=model, messages=HI, temperature=0.7, max_tokens=50,
                       capabilities=capabilities, **extra)


async def collect(stream) -> list:
    return [item async for item in stream]


async def test_the_old_body_fails_against_a_reasoning_model(fake_openai):
    # What Chatlab sent before capabilities: max_tokens and a temperature, whatever the model.
    fake_openai.reasoning_models.add("prod-chat")
    body = {"model": "gpt-5", "messages": HI, "max_tokens": 50, "temperature": 0.7,
            "stream": True}
    import httpx

    answer = httpx.post(f"{fake_openai.url}/chat/completions", json=body,
                        headers={"Authorization": "Bearer sk-test"})
    assert answer.status_code == 400 and answer.json()["error"]["param"] == "max_tokens"


@pytest.mark.parametrize("model, kind, sent, absent", [
    ("gpt-5-mini", "compatible", {"max_completion_tokens": 50, "reasoning_effort": "medium"},
     {"max_tokens", "temperature"}),
    ("o3-mini", "openai", {"max_completion_tokens": 50, "reasoning_effort": "medium"},
     {"max_tokens", "temperature"}),
    ("o1-mini", "openai", {"max_completion_tokens": 50}, {"temperature", "reasoning_effort"}),
    ("gpt-4o-mini", "openai", {"max_completion_tokens": 50, "temperature": 0.7},
     {"max_tokens", "reasoning_effort"}),
    ("llama3.2", "compatible", {"max_tokens": 50, "temperature": 0.7},
     {"max_completion_tokens", "reasoning_effort"}),
])
async def test_each_model_gets_the_body_it_accepts(fake_openai, model, kind, sent, absent):
    items = await collect(backend(fake_openai, kind).stream(request(model)))
    assert isinstance(items[-1], Usage) and "".join(i for i in items if isinstance(i, str))
    body = fake_openai.requests[-1]["body"]
    assert {k: body[k] for k in sent} == sent and not absent & set(body)
    assert len(fake_openai.requests) == 1  # right the first time: no refusal, no retry


async def test_usage_carries_the_reasoning_tokens(fake_openai):
    items = await collect(backend(fake_openai).stream(request("o4-mini")))
    assert items[-1].reasoning_tokens == REASONING_TOKENS
    plain = await collect(backend(fake_openai).stream(request("llama3.2")))
    assert plain[-1].reasoning_tokens is None


async def test_streamed_reasoning_is_parsed_only_when_asked_for(fake_openai):
    quiet = await collect(backend(fake_openai).stream(request("deepseek-r1")))
    assert not [i for i in quiet if isinstance(i, ReasoningDelta)]
    items = await collect(backend(fake_openai).stream(request("deepseek-r1", want_reasoning=True)))
    thoughts = [i for i, item in enumerate(items) if isinstance(item, ReasoningDelta)]
    texts = [i for i, item in enumerate(items) if isinstance(item, str)]
    assert thoughts and texts and max(thoughts) < min(texts)
    assert "".join(items[i].text for i in thoughts) == "Thinking about: hi"
    assert "".join(items[i] for i in texts) == "".join(i for i in quiet if isinstance(i, str))


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("model, refused, healed", [
    ("gpt-5", "max_tokens", {"output_limit_param": "max_completion_tokens",
                             "accepts_temperature": False}),
    ("o3", "max_tokens", {"output_limit_param": "max_completion_tokens",
                          "accepts_temperature": False}),
])
async def test_a_misconfigured_bot_heals_on_its_first_reply(fake_openai, caplog, model, refused,
                                                            healed):
    caplog.set_level(logging.WARNING)
    bot = await Bot.objects.acreate(
        name="R", slug="r", model=model, output_limit_param="max_tokens",
        accepts_temperature=True, reasoning_effort="",
        provider=await Provider.objects.acreate(name="P", kind="openai", base_url=fake_openai.url,
                                                api_key="sk-test-secret-key", max_retries=0))
    items = await collect(backend(fake_openai).stream(request(
        model, OLD_BODY, bot_id=bot.pk)))
    assert "".join(i for i in items if isinstance(i, str)).startswith("Echo: hi")
    # One refusal per parameter: max_tokens, then temperature; the third attempt answers.
    params = [set(r["body"]) & {"max_tokens", "max_completion_tokens", "temperature"}
              for r in fake_openai.requests]
    assert params == [{"max_tokens", "temperature"}, {"max_completion_tokens", "temperature"},
                      {"max_completion_tokens"}]
    await bot.arefresh_from_db()
    assert {k: getattr(bot, k) for k in healed} == healed
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"bot {bot.pk}" in w and f"'{refused}'" in w for w in warnings)
    assert not any("sk-test-secret-key" in r.getMessage() for r in caplog.records)
    # Healed: the next reply is right the first time.
    fake_openai.reset()
    await collect(backend(fake_openai).stream(request(model, Capabilities(
        output_limit_param=bot.output_limit_param, accepts_temperature=bot.accepts_temperature),
        bot_id=bot.pk)))
    assert len(fake_openai.requests) == 1


@pytest.mark.django_db(transaction=True)
async def test_a_refused_reasoning_effort_is_dropped_and_forgotten(fake_openai):
    bot = await Bot.objects.acreate(
        name="R", slug="r", model="llama3.2", output_limit_param="max_tokens",
        reasoning_effort="high",
        provider=await Provider.objects.acreate(name="P", kind="openai", base_url=fake_openai.url))
    caps = Capabilities(output_limit_param="max_tokens", reasoning_effort="high")
    await collect(backend(fake_openai).stream(request("llama3.2", caps, bot_id=bot.pk)))
    assert ["reasoning_effort" in r["body"] for r in fake_openai.requests] == [True, False]
    await bot.arefresh_from_db()
    assert bot.reasoning_effort == ""


async def test_a_refusal_the_layer_cannot_fix_fails_readably(fake_openai):
    # Already without max_tokens: a second refusal of the same kind is not retried forever.
    from tests.fakes.openai_server import Behaviour

    fake_openai.script(Behaviour(status=400, text="This model's maximum context length is 8192"))
    with pytest.raises(ProviderError) as raised:
        await collect(backend(fake_openai).stream(request("llama3.2")))
    assert raised.value.code == "bad_request" and len(fake_openai.requests) == 1


@pytest.mark.django_db
def test_backend_for_knows_azure_and_openai_from_the_base_url():
    azure = ProviderFactory(kind="openai", base_url="https://res.openai.azure.com/openai/v1")
    plain = ProviderFactory(kind="openai", base_url="")
    ollama = ProviderFactory(kind="openai", base_url="http://127.0.0.1:11434/v1")
    kinds = {}
    import asyncio

    async def kinds_of():
        for provider in (azure, plain, ollama):
            kinds[provider.base_url] = backend_for(provider).kind

    asyncio.run(kinds_of())
    assert list(kinds.values()) == ["azure", "openai", "compatible"]
    bot = BotFactory(provider=azure, model="prod-chat")  # a deployment name tells nothing
    assert bot.output_limit_param == "max_completion_tokens" and bot.accepts_temperature
