"""Model capabilities: known from the model name and the provider, stored on each bot."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps

from conversations.models import Bot
from conversations.providers.capabilities import Capabilities, capabilities_for, provider_kind
from tests.factories import BotFactory, ProviderFactory

REASONING = dict(output_limit_param="max_completion_tokens", accepts_temperature=False)


@pytest.mark.parametrize("model, kind, expected", [
    ("gpt-5", "openai", Capabilities(**REASONING, reasoning_effort="medium", vision=True,
                                     tools=True, context_window=400_000)),
    ("gpt-5-mini-2025-08-07", "compatible", Capabilities(
        **REASONING, reasoning_effort="medium", vision=True, tools=True,
        context_window=400_000)),
    ("gpt-5.1", "azure", Capabilities(**REASONING, reasoning_effort="none", vision=True,
                                      tools=True, context_window=400_000)),
    ("openai/o3", "compatible", Capabilities(**REASONING, reasoning_effort="medium", vision=True,
                                             tools=True, context_window=200_000)),
    ("o1-mini", "openai", Capabilities(**REASONING, context_window=128_000)),
    ("o4-mini", "openai", Capabilities(**REASONING, reasoning_effort="medium", vision=True,
                                       tools=True, context_window=200_000)),
    ("gpt-4.1-nano", "openai", Capabilities(output_limit_param="max_completion_tokens",
                                            vision=True, tools=True, context_window=1_047_576)),
    ("gpt-4o-mini", "compatible", Capabilities(output_limit_param="max_tokens", vision=True,
                                               tools=True, context_window=128_000)),
    ("prod-chat", "azure", Capabilities(output_limit_param="max_completion_tokens")),
    ("llama3.2", "compatible", Capabilities(output_limit_param="max_tokens")),
    ("deepseek-r1:7b", "compatible", Capabilities(output_limit_param="max_tokens")),
])
def test_capabilities_follow_the_model_family_and_the_provider(model, kind, expected):
    assert capabilities_for(model, kind) == expected


@pytest.mark.parametrize("kind, base_url, expected", [
    ("openai", "", "openai"),
    ("openai", "https://api.openai.com/v1", "openai"),
    ("openai", "https://my-res.openai.azure.com/openai/v1", "azure"),
    ("openai", "https://my-res.cognitiveservices.azure.com/openai/v1", "azure"),
    ("openai", "http://localhost:11434/v1", "compatible"),
    ("openai", "https://openrouter.ai/api/v1", "compatible"),
    ("demo", "", "demo"),
])
def test_the_provider_kind_comes_from_the_kind_and_base_url(kind, base_url, expected):
    assert provider_kind(kind, base_url) == expected


@pytest.mark.django_db
def test_a_bot_made_in_code_gets_what_its_model_accepts_but_keeps_its_window():
    openai_provider = ProviderFactory(kind="openai", base_url="")
    bot = BotFactory(provider=openai_provider, model="gpt-5-mini", context_window=8192)
    bot.refresh_from_db()
    assert (bot.output_limit_param, bot.accepts_temperature, bot.reasoning_effort) == (
        "max_completion_tokens", False, "medium")
    assert bot.context_window == 8192
    # Set once: a later save keeps what an admin (or a correction) chose.
    bot.accepts_temperature = True
    bot.save()
    bot.refresh_from_db()
    assert bot.accepts_temperature


@pytest.mark.django_db
def test_the_migration_fills_existing_bots_from_their_model_names():
    migration = importlib.import_module("conversations.migrations.0009_bot_capabilities")
    ollama = ProviderFactory(kind="openai", base_url="http://localhost:11434/v1")
    azure = ProviderFactory(kind="openai", base_url="https://r.openai.azure.com/openai/v1")
    bots = {"o3": BotFactory(provider=ollama, model="o3", context_window=5000),
            "llama": BotFactory(provider=ollama, model="llama3.2"),
            "azure": BotFactory(provider=azure, model="prod-chat")}
    # As the rows were before the migration: the new columns at their defaults.
    Bot.objects.update(output_limit_param="", accepts_temperature=True, reasoning_effort="")
    migration.fill_from_model_names(apps, None)
    got = {name: Bot.objects.values("output_limit_param", "accepts_temperature",
                                    "reasoning_effort", "context_window").get(pk=bot.pk)
           for name, bot in bots.items()}
    assert got == {
        "o3": {"output_limit_param": "max_completion_tokens", "accepts_temperature": False,
               "reasoning_effort": "medium", "context_window": 5000},
        "llama": {"output_limit_param": "max_tokens", "accepts_temperature": True,
                  "reasoning_effort": "", "context_window": 8192},
        "azure": {"output_limit_param": "max_completion_tokens", "accepts_temperature": True,
                  "reasoning_effort": "", "context_window": 8192},
    }
