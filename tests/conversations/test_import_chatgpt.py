"""ChatGPT's conversations.json (issue #17, item 11): archived conversations stay archived,
untitled ones get the product's title, a thread without a usable current_node is imported whole,
and a file with too many conversations is refused before anything is written."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.files.base import ContentFile

from conversations.models import Conversation, ImportJob
from conversations.services.errors import ChatError
from conversations.services.history_import import import_bytes, import_job_run

T0 = 1_700_000_000.0


def node(id_: str, parent: str | None, children: list[str], role: str | None = None,
         text: str = "", t: float | None = None) -> dict[str, Any]:
    message = None
    if role:
        message = {"id": id_, "author": {"role": role, "name": None, "metadata": {}},
                   "create_time": t, "content": {"content_type": "text", "parts": [text]},
                   "status": "finished_successfully", "metadata": {}}
    return {"id": id_, "message": message, "parent": parent, "children": children}


def conversation(title: Any = "A chat", **extra: Any) -> dict[str, Any]:
    mapping = {
        "root": node("root", None, ["u1"]),
        "u1": node("u1", "root", ["a1"], "user", "How do I make soup?", T0 + 1),
        "a1": node("a1", "u1", [], "assistant", "Boil water.", T0 + 2),
    }
    return {"title": title, "create_time": T0, "update_time": T0 + 3, "mapping": mapping,
            "current_node": "a1", **extra}


def raw(*items: dict[str, Any]) -> bytes:
    return json.dumps(list(items)).encode()


def thread(c: Conversation) -> list[tuple[str, str]]:
    return list(c.messages.order_by("created_at").values_list("role", "content"))


def test_archived_conversations_are_imported_archived(user, demo_bot):
    assert import_bytes(user=user, raw=raw(conversation("kept", is_archived=True),
                                           conversation("shown", is_archived=False),
                                           conversation("older export"))) == (3, 0)
    archived = Conversation.objects.get(owner=user, title="kept")
    assert archived.archived_at is not None
    assert archived.archived_at.timestamp() == pytest.approx(T0 + 3)  # when it last changed
    assert not Conversation.objects.filter(owner=user, archived_at__isnull=False)\
        .exclude(pk=archived.pk).exists()


@pytest.mark.parametrize("title", [None, "", "   "])
def test_an_untitled_conversation_is_titled_by_its_first_message(user, demo_bot, title):
    assert import_bytes(user=user, raw=raw(conversation(title))) == (1, 0)
    # As a conversation started on the site is titled (conversations.services.messages).
    assert Conversation.objects.get(owner=user).title == "How do I make soup?"


def test_an_untitled_conversation_without_words_shows_new_chat(logged_in, user, demo_bot):
    empty = {"title": None, "create_time": T0, "update_time": T0, "current_node": "r",
             "mapping": {"r": node("r", None, [])}}
    assert import_bytes(user=user, raw=raw(empty)) == (1, 0)
    imported = Conversation.objects.get(owner=user)
    page = logged_in.get(f"/c/{imported.pk}/").content.decode()
    assert '<h1 id="chat-title">New chat</h1>' in page


def branched(current_node: str | None) -> dict[str, Any]:
    """Two branches after the first answer; the one edited last (u2b...a3b) is the newest."""
    mapping = {
        "root": node("root", None, ["u1"]),
        "u1": node("u1", "root", ["a1"], "user", "First question", T0 + 1),
        "a1": node("a1", "u1", ["u2a", "u2b"], "assistant", "First answer", T0 + 2),
        "u2a": node("u2a", "a1", ["a2a"], "user", "Abandoned question", T0 + 3),
        "a2a": node("a2a", "u2a", [], "assistant", "Abandoned answer", T0 + 4),
        "u2b": node("u2b", "a1", ["a2b"], "user", "Edited question", T0 + 5),
        "a2b": node("a2b", "u2b", ["u3b"], "assistant", "Second answer", T0 + 6),
        "u3b": node("u3b", "a2b", ["a3b"], "user", "Third question", T0 + 7),
        "a3b": node("a3b", "u3b", [], "assistant", "Third answer", T0 + 8),
    }
    # The abandoned branch's leaf comes first in the file, as it can in real exports.
    mapping = {"a2a": mapping.pop("a2a"), **mapping}
    item = {"title": "Branched", "create_time": T0, "update_time": T0 + 9, "mapping": mapping}
    if current_node is not None:
        item["current_node"] = current_node
    return item


@pytest.mark.parametrize("current_node", [None, "gone-node"])
def test_a_missing_or_dangling_current_node_imports_the_newest_whole_thread(
        user, demo_bot, current_node):
    assert import_bytes(user=user, raw=raw(branched(current_node))) == (1, 0)
    assert thread(Conversation.objects.get(owner=user)) == [
        ("user", "First question"), ("assistant", "First answer"),
        ("user", "Edited question"), ("assistant", "Second answer"),
        ("user", "Third question"), ("assistant", "Third answer"),
    ]


def test_a_node_whose_parent_link_is_missing_is_still_reached_through_its_parents_children(
        user, demo_bot):
    item = branched(None)
    item["mapping"]["a3b"]["parent"] = None  # only u3b's children list names it
    assert import_bytes(user=user, raw=raw(item)) == (1, 0)
    assert thread(Conversation.objects.get(owner=user))[0] == ("user", "First question")
    assert len(thread(Conversation.objects.get(owner=user))) == 6


def test_too_many_conversations_are_refused_before_anything_is_written(user, demo_bot, settings):
    settings.CHATLAB_IMPORT_MAX_CONVERSATIONS = 3
    with pytest.raises(ChatError) as refused:
        import_bytes(user=user, raw=raw(*(conversation(f"chat {n}") for n in range(4))))
    assert refused.value.status == 413
    assert "4 conversations" in refused.value.message and "3" in refused.value.message
    assert not Conversation.objects.exists()
    assert import_bytes(user=user, raw=raw(*(conversation(f"chat {n}") for n in range(3)))) \
        == (3, 0)


def test_the_cap_also_holds_for_chatlab_exports(user, demo_bot, settings):
    settings.CHATLAB_IMPORT_MAX_CONVERSATIONS = 1
    item = {"title": "x", "created_at": "2026-01-01T00:00:00+00:00",
            "updated_at": "2026-01-01T00:00:00+00:00", "messages": []}
    data = {"format": "chatlab", "version": 1, "conversations": [item, item]}
    with pytest.raises(ChatError) as refused:
        import_bytes(user=user, raw=json.dumps(data).encode())
    assert refused.value.status == 413 and not Conversation.objects.exists()


def test_a_refused_import_job_says_why_in_words(user, demo_bot, settings):
    settings.CHATLAB_IMPORT_MAX_CONVERSATIONS = 2
    job = ImportJob(owner=user, filename="conversations.json")
    job.file.save("big.json", ContentFile(raw(*(conversation() for _ in range(5)))), save=False)
    job.save()
    assert import_job_run(job_id=str(job.pk)) == ImportJob.Status.FAILED
    job.refresh_from_db()
    assert job.error == ("The file holds 5 conversations; one import takes at most 2. "
                         "Split the file, or ask an administrator to raise "
                         "CHATLAB_IMPORT_MAX_CONVERSATIONS.")
    assert not Conversation.objects.exists()
