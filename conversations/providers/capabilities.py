"""What a model accepts, known from its name and where it is served.

OpenAI's reasoning models (gpt-5*, o1/o3/o4*) take ``max_completion_tokens`` but not
``max_tokens``, only the default temperature, and a ``reasoning_effort``; OpenAI and Azure take
``max_completion_tokens`` for every model; servers that only speak the older dialect (Ollama,
vLLM, LM Studio, llama.cpp) know ``max_tokens``. Each bot stores its own copy (filled from here,
editable in the admin, corrected by the provider layer when a server still refuses a parameter).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from conversations.models import Bot

MAX_COMPLETION_TOKENS, MAX_TOKENS = "max_completion_tokens", "max_tokens"
OUTPUT_LIMIT_PARAMS = (MAX_COMPLETION_TOKENS, MAX_TOKENS)
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high")

# Provider kinds as far as the request body is concerned.
OPENAI, AZURE, COMPATIBLE, DEMO = "openai", "azure", "compatible", "demo"


@dataclass(frozen=True)
class Capabilities:
    output_limit_param: str = MAX_TOKENS
    accepts_temperature: bool = True  # temperature and top_p
    # Sent as reasoning_effort when set; empty for a model that takes none.
    reasoning_effort: str = ""
    vision: bool = False
    tools: bool = False
    context_window: int | None = None  # None: not known from the name


@dataclass(frozen=True)
class _Family:
    prefix: str
    reasoning: bool
    effort: str
    vision: bool
    tools: bool
    context_window: int


# Longest prefix first: the first that matches wins. Efforts are the API's own defaults, so
# that sending them changes nothing until an administrator picks another.
FAMILIES = (
    _Family("gpt-5.1", True, "none", True, True, 400_000),
    _Family("gpt-5.2", True, "none", True, True, 400_000),
    _Family("gpt-5", True, "medium", True, True, 400_000),
    _Family("o1-mini", True, "", False, False, 128_000),  # reasoning, but no effort to choose
    _Family("o1-preview", True, "", False, False, 128_000),
    _Family("o1", True, "medium", True, True, 200_000),
    _Family("o3-mini", True, "medium", False, True, 200_000),
    _Family("o3", True, "medium", True, True, 200_000),
    _Family("o4", True, "medium", True, True, 200_000),
    _Family("gpt-4.1", False, "", True, True, 1_047_576),
    _Family("gpt-4o", False, "", True, True, 128_000),
    _Family("gpt-4-turbo", False, "", True, True, 128_000),
)


def provider_kind(kind: str, base_url: str) -> str:
    """openai, azure, compatible or demo, from a Provider's kind and base URL (Azure OpenAI is
    an OpenAI-compatible provider whose host is on openai.azure.com)."""
    if kind == DEMO:
        return DEMO
    host = (urlsplit(base_url).hostname or "").lower()
    if not base_url or host == "api.openai.com":
        return OPENAI
    if host.endswith((".openai.azure.com", ".cognitiveservices.azure.com")):
        return AZURE
    return COMPATIBLE


def family_of(model: str) -> _Family | None:
    # Routers name models "openai/gpt-5"; the family is the last part.
    name = model.rsplit("/", 1)[-1].strip().lower()
    return next((f for f in FAMILIES if name.startswith(f.prefix)), None)


def capabilities_for(model: str, kind: str) -> Capabilities:
    """What Chatlab assumes of `model` served by a provider of `kind` (see provider_kind)."""
    family = family_of(model)
    openai_api = kind in (OPENAI, AZURE)
    if family is None:
        # An Azure deployment's name need not tell its model: it takes max_completion_tokens
        # either way, and a refused temperature is corrected on first use.
        return Capabilities(output_limit_param=MAX_COMPLETION_TOKENS if openai_api else MAX_TOKENS)
    return Capabilities(
        output_limit_param=MAX_COMPLETION_TOKENS if family.reasoning or openai_api else MAX_TOKENS,
        accepts_temperature=not family.reasoning,
        reasoning_effort=family.effort,
        vision=family.vision,
        tools=family.tools,
        context_window=family.context_window,
    )


def bot_capabilities(bot: Bot) -> Capabilities:
    """The bot's own (its provider loaded); a bot never filled in gets the name's."""
    if not bot.output_limit_param:
        return capabilities_for(bot.model, provider_kind(bot.provider.kind, bot.provider.base_url))
    return Capabilities(
        output_limit_param=bot.output_limit_param,
        accepts_temperature=bot.accepts_temperature,
        reasoning_effort=bot.reasoning_effort,
        vision=bot.vision,
        tools=bot.tools,
        context_window=bot.context_window,
    )
