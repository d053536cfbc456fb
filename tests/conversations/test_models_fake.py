"""The fake OpenAI server refuses what OpenAI refuses for reasoning models, through the real SDK."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from tests.fakes.openai_server import REASONING_TOKENS, FakeOpenAI

USER = [{"role": "user", "content": "hello world"}]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def fake(server: FakeOpenAI) -> FakeOpenAI:
    server.reset()
    return server


@pytest.fixture
def client(fake: FakeOpenAI) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=fake.url, api_key="sk-test", max_retries=0) as sdk:
        yield sdk


@pytest.mark.parametrize("model", ["gpt-5", "gpt-5.1-mini", "o1", "o3-mini", "o4-mini"])
def test_it_refuses_max_tokens_for_reasoning_models_as_openai_does(client, model):
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model=model, messages=USER, max_tokens=50)
    assert raised.value.status_code == 400
    assert raised.value.body == {
        "message": "Unsupported parameter: 'max_tokens' is not supported with this model. "
                   "Use 'max_completion_tokens' instead.",
        "type": "invalid_request_error", "param": "max_tokens", "code": "unsupported_parameter"}


@pytest.mark.parametrize("name", ["temperature", "top_p"])
def test_it_refuses_a_non_default_temperature_or_top_p_for_reasoning_models(client, name):
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model="gpt-5-mini", messages=USER, **{name: 0.7})
    assert raised.value.body["param"] == name
    assert raised.value.body["code"] == "unsupported_value"
    assert "Only the default (1) value is supported" in raised.value.body["message"]
    # The default itself is fine.
    client.chat.completions.create(model="gpt-5-mini", messages=USER, **{name: 1})


def test_reasoning_models_take_max_completion_tokens_and_effort_and_report_reasoning(client):
    answer = client.chat.completions.create(model="o3", messages=USER, max_completion_tokens=3,
                                            reasoning_effort="low")
    assert answer.choices[0].finish_reason == "length"
    assert answer.usage.completion_tokens_details.reasoning_tokens == REASONING_TOKENS
    assert answer.usage.completion_tokens == 3 + REASONING_TOKENS


def test_it_refuses_an_unknown_effort_and_effort_for_models_that_do_not_reason(client):
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model="gpt-5", messages=USER, reasoning_effort="extreme")
    assert raised.value.body["code"] == "invalid_value"
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model="gpt-4o-mini", messages=USER, reasoning_effort="low")
    assert raised.value.body["param"] == "reasoning_effort"
    assert raised.value.body["code"] == "unsupported_parameter"


def test_other_models_keep_max_tokens_and_temperature(client):
    answer = client.chat.completions.create(model="llama3.2", messages=USER, max_tokens=2,
                                            temperature=0.3)
    assert answer.choices[0].finish_reason == "length"
    assert answer.usage.completion_tokens_details is None


def test_a_deployment_named_as_reasoning_is_treated_as_one(client, fake):
    fake.reasoning_models.add("prod-chat")  # an Azure deployment of a gpt-5 model
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="prod-chat", messages=USER, max_tokens=5)
    fake.reset()
    client.chat.completions.create(model="prod-chat", messages=USER, max_tokens=5)


def test_a_deepseek_r1_style_model_streams_its_reasoning_before_the_content(client):
    stream = client.chat.completions.create(model="deepseek-r1:7b", messages=USER, stream=True)
    kinds = []
    for chunk in stream:
        for choice in chunk.choices:
            extra = choice.delta.model_extra or {}
            if extra.get("reasoning_content"):
                kinds.append("reasoning")
            if choice.delta.content:
                kinds.append("content")
    assert kinds[0] == "reasoning" and "content" in kinds
    assert kinds.index("content") == kinds.count("reasoning")
    plain = client.chat.completions.create(model="deepseek-r1", messages=USER)
    assert plain.choices[0].message.model_extra["reasoning_content"].startswith("Thinking about")


def test_models_list_names_reasoning_models(client):
    ids = {m.id for m in client.models.list()}
    assert {"gpt-5-mini", "o4-mini", "deepseek-r1"} <= ids
