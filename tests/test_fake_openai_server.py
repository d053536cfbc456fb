"""The fake OpenAI server speaks the real wire format: checked with the official SDK.

Runs without Django:
    .venv/bin/python -m pytest -p no:django -p no:cacheprovider \
        tests/test_fake_openai_server.py -q -o addopts=""
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.fakes.openai_server import Behaviour, FakeOpenAI, default_reply, split_tokens

ROOT = Path(__file__).resolve().parent.parent
USER = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello world"}]
SCRIPTED = (
    "Here is code:\n\n```python\ndef add(a, b):\n    return a + b\n```\n\n"
    "  Indented line,\ttab and trailing spaces   \nDone."
)


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def fake(server: FakeOpenAI) -> FakeOpenAI:
    server.reset()
    server.configure(ttft=0.0, rate=0.0, tokens=12)
    return server


@pytest.fixture
def client(fake: FakeOpenAI) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=fake.url, api_key="sk-test", max_retries=0) as sdk:
        yield sdk


@pytest.fixture
async def aclient(fake: FakeOpenAI) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=fake.url, api_key="sk-test", max_retries=0) as sdk:
        yield sdk


def test_split_tokens_round_trips() -> None:
    for text in (SCRIPTED, "", "   ", "one", " lead and trail \n"):
        assert "".join(split_tokens(text)) == text
    assert split_tokens("a b\n c") == ["a ", "b\n ", "c"]


def test_default_reply_has_exact_token_count() -> None:
    reply = default_reply(USER, 12)
    assert reply.startswith("Echo: hello world ")
    assert len(split_tokens(reply)) == 12
    long = [{"role": "user", "content": "x " * 30}]
    assert default_reply(long, 5) == "Echo: " + "x " * 30  # never truncates the echo


def test_sync_stream_matches_openai_chunk_format(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=USER, stream=True))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[0].choices[0].delta.content == ""
    content = [c.choices[0].delta.content for c in chunks[1:-1]]
    assert "".join(content) == default_reply(USER, 12)
    assert len(content) == 12
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.object == "chat.completion.chunk" and c.model == "gpt-4o-mini" for c in chunks)
    assert all(c.id.startswith("chatcmpl-") and c.id == chunks[0].id for c in chunks)
    assert all(c.usage is None for c in chunks)  # no usage chunk unless asked for


async def test_async_stream_with_usage(aclient: openai.AsyncOpenAI) -> None:
    stream = await aclient.chat.completions.create(
        model="gpt-4o", messages=USER, stream=True, stream_options={"include_usage": True})
    chunks = [c async for c in stream]
    usage_chunk = chunks[-1]
    assert usage_chunk.choices == []
    assert usage_chunk.usage is not None
    assert usage_chunk.usage.prompt_tokens == 4  # "Be brief." + "hello world"
    assert usage_chunk.usage.completion_tokens == 12
    assert usage_chunk.usage.total_tokens == 16
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert "".join(c.choices[0].delta.content or "" for c in chunks[:-1]) == default_reply(USER, 12)


def test_sync_non_streaming(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=USER)
    assert completion.object == "chat.completion"
    assert completion.model == "gpt-4o-mini"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content == default_reply(USER, 12)
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.completion_tokens == 12


async def test_async_non_streaming_scripted_text(
        aclient: openai.AsyncOpenAI, fake: FakeOpenAI) -> None:
    fake.script(Behaviour(text=SCRIPTED))
    completion = await aclient.chat.completions.create(model="m", messages=USER)
    assert completion.choices[0].message.content == SCRIPTED


@pytest.mark.parametrize("text", [SCRIPTED, "\n\nleading newlines", "single"])
def test_scripted_text_streams_back_exactly(
        client: openai.OpenAI, fake: FakeOpenAI, text: str) -> None:
    fake.script(Behaviour(text=text))
    stream = client.chat.completions.create(model="m", messages=USER, stream=True)
    deltas = [c.choices[0].delta.content for c in stream
              if c.choices and c.choices[0].delta.content]
    assert "".join(deltas) == text
    assert deltas == split_tokens(text)


def test_tokens_override_and_max_tokens_truncation(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    fake.script(Behaviour(tokens=30))
    assert len(split_tokens(client.chat.completions.create(
        model="m", messages=USER).choices[0].message.content or "")) == 30
    truncated = client.chat.completions.create(model="m", messages=USER, max_tokens=3)
    assert truncated.choices[0].message.content == "Echo: hello world "
    assert truncated.choices[0].finish_reason == "length"


def test_rate_limit_error_with_retry_after(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    fake.script(Behaviour(status=429, retry_after=2))
    with pytest.raises(openai.RateLimitError) as excinfo:
        client.chat.completions.create(model="m", messages=USER, stream=True)
    assert excinfo.value.status_code == 429
    assert excinfo.value.response.headers["retry-after"] == "2"
    assert excinfo.value.code == "rate_limit_exceeded"
    assert set(excinfo.value.body) == {"message", "type", "param", "code"}  # type: ignore[arg-type]


async def test_server_error(aclient: openai.AsyncOpenAI, fake: FakeOpenAI) -> None:
    fake.script(Behaviour(status=500, text="The server had an error"))
    with pytest.raises(openai.InternalServerError, match="The server had an error"):
        await aclient.chat.completions.create(model="m", messages=USER)


async def test_hang_times_out(aclient: openai.AsyncOpenAI, fake: FakeOpenAI) -> None:
    fake.script(Behaviour(hang=True))
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        await aclient.with_options(timeout=0.5).chat.completions.create(
            model="m", messages=USER, stream=True)
    assert 0.45 <= time.monotonic() - started < 2.0


def test_drop_after_breaks_the_stream_midway(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    fake.script(Behaviour(drop_after=3))
    received: list[str] = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in client.chat.completions.create(model="m", messages=USER, stream=True):
            if chunk.choices and chunk.choices[0].delta.content:
                received.append(chunk.choices[0].delta.content)
    assert "".join(received) == "Echo: hello world "


async def test_drop_after_async(aclient: openai.AsyncOpenAI, fake: FakeOpenAI) -> None:
    fake.script(Behaviour(drop_after=1))
    stream = await aclient.chat.completions.create(model="m", messages=USER, stream=True)
    with pytest.raises(openai.APIConnectionError):
        async for _ in stream:
            pass


def test_missing_auth_is_401(fake: FakeOpenAI) -> None:
    no_key = openai.OpenAI(base_url=fake.url, api_key="sk-test", max_retries=0,
                           default_headers={"Authorization": ""})
    with pytest.raises(openai.AuthenticationError):
        no_key.chat.completions.create(model="m", messages=USER)
    raw = httpx.post(f"{fake.url}/chat/completions", json={"model": "m", "messages": USER})
    assert raw.status_code == 401
    assert raw.json()["error"]["code"] == "invalid_api_key"


def test_bad_body_is_400(fake: FakeOpenAI) -> None:
    headers = {"Authorization": "Bearer sk-test"}
    for body in ({"model": "m"}, {"messages": USER}):
        raw = httpx.post(f"{fake.url}/chat/completions", json=body, headers=headers)
        assert raw.status_code == 400
        assert raw.json()["error"]["type"] == "invalid_request_error"


def test_models_list(client: openai.OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert "gpt-4o-mini" in ids and len(ids) >= 2


def test_script_is_fifo_and_requests_are_logged(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    fake.script(Behaviour(text="first"), Behaviour(status=429), Behaviour(text="third"))
    def ask(model: str, **extra: float) -> str | None:
        reply = client.chat.completions.create(model=model, messages=USER, **extra)
        return reply.choices[0].message.content

    assert ask("a") == "first"
    with pytest.raises(openai.RateLimitError):
        ask("b")
    assert ask("c") == "third"
    assert ask("d", temperature=0.5) == default_reply(USER, 12)  # script used up: the default

    assert [r["body"]["model"] for r in fake.requests] == ["a", "b", "c", "d"]
    assert fake.requests[3]["body"]["messages"] == USER
    assert fake.requests[3]["body"]["temperature"] == 0.5
    assert all(r["authorization"] == "Bearer sk-test" for r in fake.requests)
    times = [r["time"] for r in fake.requests]
    assert times == sorted(times) and times[-1] <= time.monotonic()
    fake.reset()
    assert fake.requests == []


async def test_pacing_is_respected(aclient: openai.AsyncOpenAI, fake: FakeOpenAI) -> None:
    fake.configure(ttft=0.2, rate=50, tokens=10)
    started = time.monotonic()
    arrivals: list[float] = []
    stream = await aclient.chat.completions.create(model="m", messages=USER, stream=True)
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.monotonic() - started)
    assert len(arrivals) == 10
    assert 0.2 <= arrivals[0] < 0.4
    assert 0.38 <= arrivals[-1] < 0.7  # 0.2 + 9/50


def test_behaviour_overrides_pacing(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    fake.configure(ttft=5.0, rate=1.0)  # would take far too long if the overrides were ignored
    fake.script(Behaviour(ttft=0.1, rate=100, tokens=5))
    started = time.monotonic()
    completion = client.chat.completions.create(model="m", messages=USER)
    assert 0.14 <= time.monotonic() - started < 0.5  # non-streaming waits for the last token
    assert len(split_tokens(completion.choices[0].message.content or "")) == 5


async def test_many_concurrent_streams_keep_their_schedule(
        aclient: openai.AsyncOpenAI, fake: FakeOpenAI) -> None:
    fake.configure(ttft=0.1, rate=50, tokens=10)

    async def one(i: int) -> tuple[float, float, str]:
        started = time.monotonic()
        first, text = 0.0, ""
        stream = await aclient.chat.completions.create(
            model="m", messages=[{"role": "user", "content": f"n{i}"}], stream=True)
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                first = first or time.monotonic() - started
                text += chunk.choices[0].delta.content
        return first, time.monotonic() - started, text

    results = await asyncio.gather(*(one(i) for i in range(120)))
    assert [text for _, _, text in results] == [
        default_reply([{"role": "user", "content": f"n{i}"}], 10) for i in range(120)]
    assert min(first for first, _, _ in results) >= 0.1
    assert min(total for _, total, _ in results) >= 0.28  # 0.1 + 9/50
    # Loose: the SDK client (pydantic parsing, 120 connections) dominates beyond the schedule.
    assert max(total for _, total, _ in results) < 5.0


def test_control_endpoints_over_http(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    base = fake.url.removesuffix("/v1")
    r = httpx.post(f"{base}/_fake/script", json=[{"text": "scripted over http"}, {"status": 503}])
    assert r.status_code == 200
    assert httpx.post(f"{base}/_fake/script", json=[{"nope": 1}]).status_code == 400
    r = httpx.post(f"{base}/_fake/configure", json={"tokens": 7, "ttft": 0})
    assert r.json() == {"ttft": 0, "rate": 0.0, "tokens": 7}

    assert client.chat.completions.create(model="m", messages=USER).choices[0].message.content == \
        "scripted over http"
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="m", messages=USER)
    reply = client.chat.completions.create(model="m", messages=USER).choices[0].message.content
    assert len(split_tokens(reply or "")) == 7

    log = httpx.get(f"{base}/_fake/requests").json()
    assert len(log) == 3 and log[0]["body"]["messages"] == USER
    assert log[0]["authorization"] == "Bearer sk-test"
    assert httpx.post(f"{base}/_fake/reset").status_code == 200
    assert httpx.get(f"{base}/_fake/requests").json() == []


def test_runs_as_a_separate_process() -> None:
    command = [sys.executable, "-m", "tests.fakes.openai_server", "--port", "0", "--tokens", "3"]
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()
            assert line.startswith("listening on http://127.0.0.1:") and line.endswith("/v1")
            url = line.removeprefix("listening on ")
            with openai.OpenAI(base_url=url, api_key="sk-test", max_retries=0) as sdk:
                reply = sdk.chat.completions.create(model="m", messages=USER)
            assert reply.choices[0].message.content == "Echo: hello world"
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=5) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
