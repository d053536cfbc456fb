"""The offline demo backend: a clearly labelled reply, streamed like a real model's."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

from django.conf import settings

from .base import ChatRequest, Usage

_TOKEN = re.compile(r"\s*\S+\s*|\s+")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s")

DEMO_TEMPLATE = """**Demo reply.** This bot runs on Chatlab's built-in demo provider: it works offline \
and no language model is involved. An administrator connects OpenAI or any OpenAI-compatible \
server (Ollama, vLLM, LM Studio, llama.cpp) in the admin under *Providers*.

You wrote {words} word{plural}:

> {quote}

A reply can carry code, rendered as a block:

```python
def greet(name: str) -> str:
    return f"Hello, {{name}}!"
```
"""


def demo_reply(user_text: str) -> str:
    words = len(user_text.split())
    quote = " ".join(user_text.split())[:200] or "…"
    return DEMO_TEMPLATE.format(words=words, plural="" if words == 1 else "s", quote=quote)


def tokens_of(text: str) -> list[str]:
    return _TOKEN.findall(text)


def demo_summary(transcript: str, limit_chars: int = 1500) -> str:
    """An extractive summary, made offline: the start of each turn's first sentence, in order,
    the earlier summary's lines first; the oldest lines give way when it grows too long."""
    lines: list[str] = []
    for line in transcript.splitlines():
        if line.startswith("Earlier summary: "):
            lines.extend(x for x in line[17:].split(" | ") if x)
            continue
        role, _, text = line.partition(": ")
        text = " ".join(text.split())
        if text:
            sentence = _SENTENCE_END.split(text, maxsplit=1)[0][:60]
            lines.append(f"{role}: {sentence}")
    while len(lines) > 1 and len(" | ".join(lines)) > limit_chars:
        lines.pop(0)
    return " | ".join(lines)[:limit_chars]


class DemoBackend:
    async def stream(self, request: ChatRequest) -> AsyncIterator[str | Usage]:
        if request.purpose == "summary":
            text = demo_summary(request.messages[-1]["content"], request.max_tokens * 3)
            yield text
            yield Usage(prompt_tokens=None, completion_tokens=None, model="demo")
            return
        last_user = next(
            (m["content"] for m in reversed(request.messages) if m["role"] == "user"), ""
        )
        tokens = tokens_of(demo_reply(last_user))[: request.max_tokens]
        rate = settings.CHATLAB_DEMO_TOKENS_PER_SECOND
        delay = 1.0 / rate if rate > 0 else 0.0
        await asyncio.sleep(min(delay * 5, 0.3))
        for token in tokens:
            yield token
            if delay:
                await asyncio.sleep(delay)
        prompt_chars = sum(len(m["content"]) for m in request.messages)
        yield Usage(prompt_tokens=prompt_chars // 4 + 1, completion_tokens=len(tokens), model="demo")
