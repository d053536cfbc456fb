"""Conversations made through the REST API without a title (issue #17, item 11) are titled like
the ones started on the site: by their first message at once, then by the model once the first
exchange is complete."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.services.tokens import api_token_create
from conversations.models import Conversation, Message
from tests.factories import MessageFactory
from tests.fakes.openai_server import Behaviour

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def api(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=user, name='t')[1]}")
    return client


def wait_for(predicate: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


def untitled(api: APIClient, bot: str) -> str:
    made = api.post("/api/v1/conversations/", {"bot": bot}, format="json")
    assert made.status_code == 201 and made.json()["title"] == ""
    return made.json()["id"]


def send(api: APIClient, conversation: str, text: str) -> dict[str, Any]:
    sent = api.post(f"/api/v1/conversations/{conversation}/messages/", {"content": text},
                    format="json")
    assert sent.status_code == 202, sent.content
    return sent.json()


def title_of(api: APIClient, conversation: str) -> str:
    return api.get(f"/api/v1/conversations/{conversation}/").json()["title"]


def test_the_model_titles_an_api_conversation_after_its_first_exchange(
        api, openai_bot, fake_openai, settings):
    settings.CHATLAB_AUTO_TITLES = True
    fake_openai.script(Behaviour(text="Gern: erst Wasser kochen."),
                       Behaviour(text="Titel: Tomatensuppe für vier"))
    conversation = untitled(api, openai_bot.slug)
    sent = send(api, conversation, "Wie koche ich eine gute Tomatensuppe für vier?")
    # At once, as a conversation started on the site is.
    assert title_of(api, conversation) == "Wie koche ich eine gute Tomatensuppe für vier?"
    reply = sent["reply"]["id"]
    wait_for(lambda: api.get(f"/api/v1/messages/{reply}/").json()["status"] == "complete")
    assert wait_for(lambda: title_of(api, conversation) == "Tomatensuppe für vier")
    assert fake_openai.requests[-1]["body"]["max_tokens"] == 24  # the title request


def test_the_demo_bot_titles_an_api_conversation_by_its_first_message(api, demo_bot, settings):
    settings.CHATLAB_AUTO_TITLES = True
    conversation = untitled(api, "demo")
    reply = send(api, conversation, "  Hello   there, API  ")["reply"]["id"]
    wait_for(lambda: api.get(f"/api/v1/messages/{reply}/").json()["status"] == "complete")
    assert title_of(api, conversation) == "Hello there, API"


def test_an_untitled_conversation_with_messages_keeps_its_history_and_gets_a_title(
        api, user, openai_bot, fake_openai):
    # One made empty before this fix, and used since: titled by its first message, and the
    # reply still sees the whole history (no shortcut that would drop it).
    conversation = Conversation.objects.create(owner=user, bot=openai_bot, title="")
    asked = MessageFactory(conversation=conversation, content="The first question")
    MessageFactory(conversation=conversation, role=Message.Role.ASSISTANT, reply_to=asked,
                   content="The first answer")
    reply = send(api, str(conversation.pk), "A later question")["reply"]["id"]
    wait_for(lambda: api.get(f"/api/v1/messages/{reply}/").json()["status"] == "complete")
    assert title_of(api, str(conversation.pk)) == "The first question"
    asked = [m["content"] for m in fake_openai.requests[-1]["body"]["messages"]]
    assert "The first question" in asked and "The first answer" in asked


def test_a_title_given_at_creation_is_kept(api, demo_bot):
    made = api.post("/api/v1/conversations/", {"bot": "demo", "title": "Mine"}, format="json")
    conversation = made.json()["id"]
    reply = send(api, conversation, "Hello")["reply"]["id"]
    wait_for(lambda: api.get(f"/api/v1/messages/{reply}/").json()["status"] == "complete")
    assert title_of(api, conversation) == "Mine"
