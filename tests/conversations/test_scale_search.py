"""Search at scale on PostgreSQL (issue #20): stored vectors stemmed in each message's language,
the owner inside the match, and plans that read the indexes instead of recomputing to_tsvector."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations.models import Conversation
from conversations.services import search
from conversations.services.search import conversations_search, highlight, is_postgres
from tests.conftest import require
from tests.factories import ConversationFactory, MessageFactory


@pytest.fixture(autouse=True)
def _postgres(db):
    require(is_postgres(), "search at scale is PostgreSQL's: set DATABASE_URL")


def _found(user, query: str) -> set:
    return {c.pk for c in conversations_search(user=user, query=query)}


def test_russian_and_english_words_match_in_any_form(user, demo_bot):
    water = ConversationFactory(owner=user, bot=demo_bot, title="Здоровье")
    MessageFactory(conversation=water, content="Я пью много воды каждый день", language="ru")
    shoes = ConversationFactory(owner=user, bot=demo_bot, title="Sport")
    MessageFactory(conversation=shoes, content="She was running in new shoes", language="en")
    assert _found(user, "вода") == {water.pk}
    assert _found(user, "воду каждого") == {water.pk}
    assert _found(user, "runs shoe") == {shoes.pk}
    # The words as written still match, stop words included: "the" is one in English.
    the = ConversationFactory(owner=user, bot=demo_bot, title="Note")
    MessageFactory(conversation=the, content="the end", language="en")
    assert _found(user, "the") == {the.pk}
    # The snippet marks the word in its own form, stemmed in the message's language.
    snippet = conversations_search(user=user, query="вода").get().snippet_raw
    assert "<mark>воды</mark>" in highlight(snippet, "вода")


def test_replies_and_unknown_languages_match_as_written(user, demo_bot):
    chat = ConversationFactory(owner=user, bot=demo_bot)
    MessageFactory(conversation=chat, role="assistant", content="Tomatoes need sun", language="")
    MessageFactory(conversation=chat, content="Katzen schlafen viel", language="xx")
    assert _found(user, "tomatoes") == {chat.pk}
    assert _found(user, "katzen") == {chat.pk}
    assert _found(user, "toma") == set()


@pytest.mark.parametrize("plan", ["walk", "matches first"])
def test_a_conversation_moved_to_another_person_is_searched_as_theirs(user, other_user,
                                                                     demo_bot, plan,
                                                                     monkeypatch):
    if plan == "matches first":  # as for a person with many conversations and a rare word
        monkeypatch.setattr(search, "COMMON_SAMPLE", 1)
        monkeypatch.setattr(search, "COMMON_SHARE", 0)
    chat = ConversationFactory(owner=other_user, bot=demo_bot)
    MessageFactory(conversation=chat, content="a marzipan recipe")
    assert _found(user, "marzipan") == set()
    # As a guest's conversation moves to the account made at sign-up (accounts.guests).
    Conversation.objects.filter(pk=chat.pk).update(owner=user)
    assert _found(user, "marzipan") == {chat.pk}
    assert _found(other_user, "marzipan") == set()


@pytest.mark.parametrize("words", ["common", "rare"])
def test_the_plan_reads_stored_vectors_through_the_indexes(user, other_user, demo_bot, words,
                                                           monkeypatch):
    # A sample smaller than the history, as for a person with thousands of conversations.
    monkeypatch.setattr(search, "COMMON_SAMPLE", 10)
    for i in range(40):
        chat = ConversationFactory(owner=user if i % 2 else other_user, bot=demo_bot)
        MessageFactory.create_batch(3, conversation=chat, content=f"common words here {i}")
    MessageFactory(conversation=chat, content="a xylophone")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE conversations_message")
        cursor.execute("ANALYZE conversations_conversation")
        cursor.execute("SET LOCAL enable_seqscan = off")
    query = "common" if words == "common" else "xylophone"
    with CaptureQueriesContext(connection) as queries:
        found = list(conversations_search(user=user, query=query)[:21])
    assert found
    sql = queries[-1]["sql"]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "to_tsvector" not in sql + plan and "websearch_to_tsquery" not in sql
    if words == "rare":
        # The person's few matches read first, through the stored vectors' index or the
        # owner's (only their own rows), then just those conversations fetched.
        assert f"owner_id = {user.pk}" in plan, plan
        assert "msg_search" in plan or "msg_owner_time" in plan, plan
    else:
        # Common words: the person's conversations walked in order and each one's messages
        # probed, so the page fills from the first ones; never the whole word's index entry.
        assert "msg_search" not in plan and "hashed SubPlan" not in plan, plan


def test_search_costs_the_same_queries_whatever_the_history(user, demo_bot,
                                                            django_assert_num_queries):
    for _ in range(3):
        MessageFactory(conversation=ConversationFactory(owner=user, bot=demo_bot),
                       content="needle")
    # The plan choice (a sample of the latest conversations) and the page itself.
    with django_assert_num_queries(2):
        list(conversations_search(user=user, query="needle")[:21])
    for _ in range(30):
        MessageFactory(conversation=ConversationFactory(owner=user, bot=demo_bot),
                       content="needle")
    with django_assert_num_queries(2):
        list(conversations_search(user=user, query="needle")[:21])
    assert search.COMMON_SAMPLE >= 21
