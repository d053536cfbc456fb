"""Exports stream (issue #20): memory flat in the number of messages, no N+1, the same text."""

import json
import tracemalloc
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from conversations.models import Conversation, Message
from conversations.services import history_export
from conversations.services.history_export import export_json, export_markdown, exportable
from tests.factories import ConversationFactory, MessageFactory


@pytest.fixture
def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def history(user, bot, conversations: int, per_conversation: int = 10) -> None:
    """Many conversations of a few messages each, written in two bulk inserts."""
    start = timezone.now() - timedelta(days=1)
    rows = [Conversation(owner=user, bot=bot, title=f"chat {n}") for n in range(conversations)]
    Conversation.objects.bulk_create(rows)
    Message.objects.bulk_create(
        Message(conversation=c, role="user" if i % 2 == 0 else "assistant",
                content=f"message {i} of {c.title} " + "words " * 40)
        for c in rows for i in range(per_conversation))
    Conversation.objects.filter(owner=user).update(created_at=start)


def peak_while_downloading(api, url: str) -> tuple[int, int]:
    """(peak bytes traced while the view runs and its body is read, body size)."""
    tracemalloc.start()
    try:
        response = api.get(url)
        size = sum(len(chunk) for chunk in response)
        return tracemalloc.get_traced_memory()[1], size
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("url", ["/api/v1/export/", "/api/v1/export/?format=markdown"])
def test_an_export_holds_a_chunk_in_memory_not_the_history(api, user, demo_bot, url):
    peak_while_downloading(api, url)  # the first request imports and caches what it needs
    history(user, demo_bot, 150)  # a few full chunks of conversations
    small, small_size = peak_while_downloading(api, url)
    history(user, demo_bot, 450)  # 4 times the messages
    large, large_size = peak_while_downloading(api, url)
    assert large_size > 3.5 * small_size
    assert large < 1.5 * small, (small, large)


@pytest.mark.parametrize("per_dump", [1, 200])
def test_the_streamed_json_is_laid_out_as_json_dumps_lays_out_the_whole(user, demo_bot,
                                                                         monkeypatch, per_dump):
    monkeypatch.setattr(history_export, "MESSAGES_PER_DUMP", per_dump)
    empty = ConversationFactory(owner=user, bot=demo_bot, title="nothing yet")
    thread = ConversationFactory(owner=user, bot=demo_bot, title='Quotes " and \\ and ünïcode')
    question = MessageFactory(conversation=thread, role="user", content="line one\nline two")
    MessageFactory(conversation=thread, role="assistant", content="", reply_to=question,
                   status=Message.Status.FAILED, error="boom", prompt_tokens=3)
    MessageFactory(conversation=thread, role="user", content="a third")
    Conversation.objects.filter(pk=empty.pk).update(created_at=timezone.now() - timedelta(1))
    text = export_json(exportable(user))
    assert text == json.dumps(json.loads(text), ensure_ascii=False, indent=2) + "\n"
    data = json.loads(text)
    assert [c["title"] for c in data["conversations"]] == ["nothing yet", thread.title]
    assert data["conversations"][0]["messages"] == []
    assert [m["reply_to"] for m in data["conversations"][1]["messages"]] == [None, 0, None]
    assert export_json(exportable(user).none()) == (
        '{\n  "format": "chatlab",\n  "version": 1,\n  "conversations": []\n}\n')
    assert export_markdown(exportable(user)).startswith("# nothing yet\n\n*")


def test_an_export_reads_messages_per_chunk_of_conversations(api, user, demo_bot,
                                                             django_assert_max_num_queries):
    history(user, demo_bot, 250, per_conversation=2)
    # The session and user, then the conversations and one message query per 100 of them.
    with django_assert_max_num_queries(8):
        response = api.get("/api/v1/export/")
        data = json.loads(b"".join(response))
    assert len(data["conversations"]) == 250
    assert all(len(c["messages"]) == 2 for c in data["conversations"])


def test_one_conversation_that_is_not_mine_is_not_found(api, other_user, demo_bot):
    theirs = ConversationFactory(owner=other_user, bot=demo_bot)
    assert api.get(f"/api/v1/conversations/{theirs.pk}/export/").status_code == 404
