"""A reply's reasoning in exports and imports (issue #18): the JSON export keeps it, importing
that file restores it (byte for byte on export again), Markdown quotes it above the answer."""

from __future__ import annotations

import json

import pytest

from conversations.models import Message
from conversations.services.history_export import export_json, export_markdown, exportable
from conversations.services.history_import import import_bytes
from tests.factories import ConversationFactory, MessageFactory, UserFactory

pytestmark = pytest.mark.django_db


def _thoughtful(user, bot) -> Message:
    conversation = ConversationFactory(owner=user, bot=bot, title="Sky")
    asked = MessageFactory(conversation=conversation, content="Why is the sky blue?")
    return MessageFactory(conversation=conversation, role=Message.Role.ASSISTANT, reply_to=asked,
                          content="Rayleigh scattering.", completion_tokens=40,
                          reasoning="Short waves scatter more.\nSo: blue.", reasoning_ms=2300,
                          reasoning_tokens=25)


def test_the_json_export_keeps_reasoning_and_an_import_restores_it(user, demo_bot):
    _thoughtful(user, demo_bot)
    original = export_json(exportable(user))
    reply = json.loads(original)["conversations"][0]["messages"][1]
    assert reply["content"] == "Rayleigh scattering."
    assert (reply["reasoning"], reply["reasoning_ms"], reply["reasoning_tokens"]) == (
        "Short waves scatter more.\nSo: blue.", 2300, 25)
    # A message without reasoning is written as before reasoning existed.
    assert "reasoning" not in json.loads(original)["conversations"][0]["messages"][0]

    other = UserFactory()
    assert import_bytes(user=other, raw=original.encode()) == (1, 0)
    restored = Message.objects.get(conversation__owner=other, role="assistant")
    assert (restored.reasoning, restored.reasoning_ms, restored.reasoning_tokens) == (
        "Short waves scatter more.\nSo: blue.", 2300, 25)
    assert restored.content == "Rayleigh scattering."
    assert export_json(exportable(other)) == original


def test_a_bad_reasoning_field_is_refused_readably(user, demo_bot):
    _thoughtful(user, demo_bot)
    data = json.loads(export_json(exportable(user)))
    data["conversations"][0]["messages"][1]["reasoning_ms"] = "slow"
    imported, skipped = import_bytes(user=UserFactory(), raw=json.dumps(data).encode())
    assert (imported, skipped) == (0, 1)


def test_the_markdown_export_quotes_the_reasoning_above_the_answer(user, demo_bot):
    _thoughtful(user, demo_bot)
    text = export_markdown(exportable(user))
    assert ("> *Thinking:*\n>\n> Short waves scatter more.\n> So: blue.\n\n"
            "Rayleigh scattering.") in text
