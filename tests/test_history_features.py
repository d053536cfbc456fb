"""Search (both databases), trash and its expiry, pin/archive, rename, edit with previous
versions, and page/API query counts that do not grow with history (issue #6)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.services.tokens import api_token_create
from conversations.models import Conversation, Message
from conversations.services.edits import message_edit
from conversations.services.errors import ChatError
from conversations.services.search import conversations_search, highlight, is_postgres
from conversations.services.trash import trash_empty_expired
from conversations.tasks import empty_trash
from tests.factories import ConversationFactory, MessageFactory

XSS = '<script>alert("pwned")</script>'


@pytest.fixture
def api(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=user, name='t')[1]}")
    return client


# Search -----------------------------------------------------------------------------------------

@pytest.fixture
def corpus(user, other_user, demo_bot):
    soup = ConversationFactory(owner=user, bot=demo_bot, title="Kitchen notes")
    MessageFactory(conversation=soup, content=f"The best tomato soup needs basil {XSS}")
    titled = ConversationFactory(owner=user, bot=demo_bot, title="Tomato garden")
    MessageFactory(conversation=titled, content="Water in the morning.")
    unrelated = ConversationFactory(owner=user, bot=demo_bot, title="Taxes")
    MessageFactory(conversation=unrelated, content="Deadline in April.")
    theirs = ConversationFactory(owner=other_user, bot=demo_bot, title="Tomato secrets")
    MessageFactory(conversation=theirs, content="tomato tomato")
    trashed = ConversationFactory(owner=user, bot=demo_bot, title="Old tomato",
                                  deleted_at=timezone.now())
    return {"soup": soup, "titled": titled, "trashed": trashed, "theirs": theirs}


def test_search_matches_titles_and_text_of_my_conversations_only(user, corpus):
    found = {c.pk for c in conversations_search(user=user, query="tomato")}
    assert found == {corpus["soup"].pk, corpus["titled"].pk}
    both = {c.pk for c in conversations_search(user=user, query="tomato basil")}
    assert both == {corpus["soup"].pk}
    assert not conversations_search(user=user, query="   ").exists()
    assert not conversations_search(user=user, query="nothing-like-this").exists()


def test_search_highlights_are_html_safe(user, corpus):
    soup = conversations_search(user=user, query="soup").get()
    snippet = highlight(soup.snippet_raw, "soup")
    assert "<mark>soup</mark>" in snippet.lower()
    assert "<script>" not in snippet and "<mark>" in snippet
    # SQLite's snippet shows the markup escaped; PostgreSQL's ts_headline drops tags itself.
    assert "&lt;script&gt;" in snippet or is_postgres()
    # A query that is itself markup is escaped too.
    assert "<b>" not in highlight("a <b>bold</b> word", "<b>")


def test_the_api_search_returns_highlights(api, corpus):
    results = api.get("/api/v1/conversations/", {"search": "tomato"}).json()["results"]
    by_id = {r["id"]: r for r in results}
    assert set(by_id) == {str(corpus["soup"].pk), str(corpus["titled"].pk)}
    assert "<mark>" in by_id[str(corpus["soup"].pk)]["highlight"].lower()
    assert "<mark>tomato</mark>" in by_id[str(corpus["titled"].pk)]["title_highlight"].lower()
    assert "<script>" not in str(results)


def test_the_search_page_shows_highlighted_results(logged_in, corpus):
    body = logged_in.get("/search/", {"q": "tomato"}).content.decode()
    assert "<mark>" in body and "Kitchen notes" in body and "Tomato secrets" not in body
    assert XSS not in body and "Old tomato" not in body
    assert "Nothing found" in logged_in.get("/search/", {"q": "zzzz"}).content.decode()


def test_search_runs_on_postgresql_full_text(user, corpus):
    from tests.conftest import require

    require(is_postgres(), "full-text search is tested on PostgreSQL: set DATABASE_URL")
    with CaptureQueriesContext(connection) as queries:
        list(conversations_search(user=user, query="tomato"))
    sql = queries[-1]["sql"]
    # The stored, indexed vector (migration 0010): no to_tsvector recomputed per row; the
    # words are parsed once, with the plan's choice (services.search), before the page.
    assert "to_tsvector" not in sql and "::tsquery" in sql and "ts_headline" in sql
    assert "websearch_to_tsquery" in queries[0]["sql"]
    # Word-based: "tomatoes" is not "tomato" in the simple configuration, but a prefix of a
    # word is not a match either, unlike the SQLite fallback.
    assert not conversations_search(user=user, query="toma").exists()


def test_search_queries_do_not_grow_with_messages(api, user, demo_bot):
    conversation = ConversationFactory(owner=user, bot=demo_bot, title="big")
    MessageFactory.create_batch(10, conversation=conversation, content="needle in hay")
    api.get("/api/v1/conversations/", {"search": "needle"})  # warm: the token's last use
    with CaptureQueriesContext(connection) as small:
        api.get("/api/v1/conversations/", {"search": "needle"})
    MessageFactory.create_batch(990, conversation=conversation, content="needle in hay")
    with CaptureQueriesContext(connection) as large:
        api.get("/api/v1/conversations/", {"search": "needle"})
    assert len(large) == len(small)


# Trash ------------------------------------------------------------------------------------------

def test_delete_moves_to_the_trash_and_restore_brings_it_back(api, user, demo_bot):
    conversation = ConversationFactory(owner=user, bot=demo_bot)
    MessageFactory(conversation=conversation)
    assert api.delete(f"/api/v1/conversations/{conversation.pk}/").status_code == 204
    assert api.get(f"/api/v1/conversations/{conversation.pk}/").status_code == 404
    assert str(conversation.pk) not in str(api.get("/api/v1/conversations/").json())
    trash = api.get("/api/v1/trash/").json()["results"]
    assert [t["id"] for t in trash] == [str(conversation.pk)] and trash[0]["deleted_at"]
    restored = api.post(f"/api/v1/conversations/{conversation.pk}/restore/")
    assert restored.status_code == 200
    assert api.get(f"/api/v1/conversations/{conversation.pk}/").status_code == 200
    assert conversation.messages.count() == 1
    assert api.post(f"/api/v1/conversations/{conversation.pk}/restore/").status_code == 404


def test_delete_for_good_and_emptying(api, user, demo_bot):
    a, b = ConversationFactory.create_batch(2, owner=user, bot=demo_bot, deleted_at=timezone.now())
    keep = ConversationFactory(owner=user, bot=demo_bot)
    assert api.delete(f"/api/v1/trash/{a.pk}/").status_code == 204
    assert api.delete(f"/api/v1/trash/{keep.pk}/").status_code == 404  # not in the trash
    assert api.delete("/api/v1/trash/").status_code == 204
    assert list(Conversation.objects.all()) == [keep]


def test_the_trash_is_emptied_after_the_retention_days(user, demo_bot, settings):
    settings.CHATLAB_TRASH_RETENTION_DAYS = 30
    now = timezone.now()
    old = ConversationFactory(owner=user, bot=demo_bot, deleted_at=now - timedelta(days=31))
    MessageFactory(conversation=old)
    recent = ConversationFactory(owner=user, bot=demo_bot, deleted_at=now - timedelta(days=29))
    alive = ConversationFactory(owner=user, bot=demo_bot)
    assert empty_trash.delay().get() == 1
    assert set(Conversation.objects.values_list("pk", flat=True)) == {recent.pk, alive.pk}
    assert trash_empty_expired(now=now + timedelta(days=2)) == 1


def test_the_nightly_trash_task_is_scheduled_on_maintenance(db):
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(task="conversations.tasks.empty_trash")
    assert task.queue == "maintenance" and task.enabled and task.crontab is not None


def test_the_trash_pages_restore_and_delete(logged_in, user, demo_bot):
    conversation = ConversationFactory(owner=user, bot=demo_bot, title="Gone soon")
    response = logged_in.post(f"/c/{conversation.pk}/action/", {"action": "delete"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert "Gone soon" in logged_in.get("/trash/").content.decode()
    assert "Gone soon" not in logged_in.get("/").content.decode()
    logged_in.post(f"/trash/{conversation.pk}/restore/")
    assert logged_in.get(f"/c/{conversation.pk}/").status_code == 200
    logged_in.post(f"/c/{conversation.pk}/action/", {"action": "delete"})
    logged_in.post(f"/trash/{conversation.pk}/delete/")
    assert not Conversation.objects.exists()


# Pin, archive, rename, continue --------------------------------------------------------------

def test_pin_archive_and_rename_through_the_api(api, user, demo_bot):
    older = ConversationFactory(owner=user, bot=demo_bot, title="older")
    newer = ConversationFactory(owner=user, bot=demo_bot, title="newer")
    Conversation.objects.filter(pk=older.pk).update(updated_at=timezone.now() - timedelta(days=1))
    pinned = api.patch(f"/api/v1/conversations/{older.pk}/", {"pinned": True}, format="json")
    assert pinned.json()["pinned"] is True
    listed = api.get("/api/v1/conversations/").json()["results"]
    assert [c["title"] for c in listed] == ["older", "newer"]  # pinned first
    api.patch(f"/api/v1/conversations/{newer.pk}/", {"archived": True, "title": "  new  name "},
              format="json")
    newer.refresh_from_db()
    assert newer.archived_at is not None and newer.title == "new name"
    assert [c["title"] for c in api.get("/api/v1/conversations/?archived=false").json()["results"]] == ["older"]
    assert [c["title"] for c in api.get("/api/v1/conversations/?archived=true").json()["results"]] == ["new name"]
    bad = api.patch(f"/api/v1/conversations/{newer.pk}/", {"pinned": "yes"}, format="json")
    assert bad.status_code == 400
    assert api.get("/api/v1/conversations/?pinned=maybe").status_code == 400


def test_the_sidebar_puts_pins_first_and_leaves_archived_out(logged_in, user, demo_bot):
    plain = ConversationFactory(owner=user, bot=demo_bot, title="Plain one")
    pinned = ConversationFactory(owner=user, bot=demo_bot, title="Pinned one")
    Conversation.objects.filter(pk=pinned.pk).update(updated_at=timezone.now() - timedelta(days=3))
    archived = ConversationFactory(owner=user, bot=demo_bot, title="Archived one")
    logged_in.post(f"/c/{pinned.pk}/action/", {"action": "pin"})
    logged_in.post(f"/c/{archived.pk}/action/", {"action": "archive"})
    logged_in.post(f"/c/{plain.pk}/action/", {"action": "rename", "title": "Renamed one"})
    body = logged_in.get("/").content.decode()
    assert body.index("Pinned one") < body.index("Renamed one")
    assert "Archived one" not in body
    assert "Archived one" in logged_in.get("/archive/").content.decode()
    # An archived conversation can still be opened and continued.
    assert logged_in.get(f"/c/{archived.pk}/").status_code == 200
    assert logged_in.post(f"/c/{plain.pk}/action/", {"action": "rename", "title": " "}).status_code == 302


# Edit the last message --------------------------------------------------------------------------

def test_editing_the_last_message_keeps_the_old_one_as_a_previous_version(api, user, demo_bot):
    conversation = ConversationFactory(owner=user, bot=demo_bot)
    asked = MessageFactory(conversation=conversation, content="Soup for two?")
    MessageFactory(conversation=conversation, role="assistant", reply_to=asked, content="Yes.")
    response = api.post(f"/api/v1/messages/{asked.pk}/edit/", {"content": "Soup for four?"},
                        format="json")
    assert response.status_code == 202
    new_id = response.json()["message"]["id"]
    visible = api.get(f"/api/v1/conversations/{conversation.pk}/messages/").json()["results"]
    assert [m["content"] for m in visible][:1] == ["Soup for four?"] and len(visible) == 2
    versions = api.get(f"/api/v1/messages/{new_id}/versions/").json()
    assert [(v["content"], v["answer"]) for v in versions] == [("Soup for two?", "Yes.")]
    # The old question can no longer be edited; an empty edit is refused.
    assert api.post(f"/api/v1/messages/{asked.pk}/edit/", {"content": "x"},
                    format="json").status_code == 409
    assert api.post(f"/api/v1/messages/{new_id}/edit/", {"content": "  "},
                    format="json").status_code == 400
    page = api.get(f"/api/v1/conversations/{conversation.pk}/messages/").json()["results"]
    reply_id = page[-1]["id"]
    Message.objects.filter(pk=reply_id).update(status="complete", content="Yes, four.")
    page_body = APIClient()
    page_body.force_login(user)
    html = page_body.get(f"/c/{conversation.pk}/").content.decode()
    assert "Soup for two?" in html  # shown under the message as a previous version


def test_only_the_last_message_can_be_edited(user, demo_bot):
    conversation = ConversationFactory(owner=user, bot=demo_bot)
    first = MessageFactory(conversation=conversation, content="one")
    MessageFactory(conversation=conversation, role="assistant", reply_to=first, content="1")
    second = MessageFactory(conversation=conversation, content="two")
    with pytest.raises(ChatError) as refused:
        message_edit(user=user, message_id=first.pk, content="uno")
    assert refused.value.code == "not_last"
    message, reply, superseded = message_edit(user=user, message_id=second.pk, content="dos")
    assert superseded == [str(second.pk)] and reply.reply_to == message


# Queries per page do not grow ---------------------------------------------------------------

@pytest.mark.parametrize("path", ["/c/{id}/", "/", "/search/?q=needle", "/trash/", "/archive/",
                                  "/import/"])
def test_pages_cost_the_same_queries_with_10_and_1000_messages(logged_in, user, demo_bot, path):
    conversation = ConversationFactory(owner=user, bot=demo_bot, title="needle")
    MessageFactory.create_batch(10, conversation=conversation, content="needle words")
    url = path.format(id=conversation.pk)
    logged_in.get(url)
    with CaptureQueriesContext(connection) as small:
        assert logged_in.get(url).status_code == 200
    Message.objects.bulk_create([Message(conversation=conversation, role="user",
                                         content=f"needle {i}") for i in range(990)])
    with CaptureQueriesContext(connection) as large:
        assert logged_in.get(url).status_code == 200
    assert len(large) == len(small)


@pytest.mark.parametrize("path", ["/api/v1/conversations/", "/api/v1/conversations/{id}/messages/",
                                  "/api/v1/trash/", "/api/v1/conversations/{id}/"])
def test_api_pages_cost_the_same_queries_with_10_and_1000_messages(api, user, demo_bot, path):
    conversation = ConversationFactory(owner=user, bot=demo_bot)
    MessageFactory.create_batch(10, conversation=conversation)
    url = path.format(id=conversation.pk)
    api.get(url)  # warm: the token's last use is written at most once a while
    with CaptureQueriesContext(connection) as small:
        assert api.get(url).status_code == 200
    Message.objects.bulk_create([Message(conversation=conversation, role="user",
                                         content=f"m {i}") for i in range(990)])
    with CaptureQueriesContext(connection) as large:
        assert api.get(url).status_code == 200
    assert len(large) == len(small)
