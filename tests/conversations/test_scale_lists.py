"""The quota check, the sidebar and the conversation list at scale (issue #20): the same
queries and an index in the plan whatever the number of conversations, no COUNT for a page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.services.quotas import usage_today, usage_today_many
from accounts.services.tokens import api_token_create
from conversations import selectors
from conversations.models import Conversation, Message
from conversations.services.search import is_postgres
from tests.conftest import require
from tests.factories import ConversationFactory, MessageFactory


@pytest.fixture
def api(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=user, name='t')[1]}")
    return client


def _history(user, bot, conversations: int) -> None:
    yesterday = timezone.now() - timedelta(days=1)
    for _ in range(conversations):
        chat = ConversationFactory(owner=user, bot=bot)
        old = MessageFactory(conversation=chat, role=Message.Role.USER)
        Message.objects.filter(pk=old.pk).update(created_at=yesterday)


def _explain(sql: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE conversations_message")
        cursor.execute("ANALYZE conversations_conversation")
        # A small table: make the planner say which plans it can, not which is cheapest here.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("EXPLAIN " + sql)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_usage_today_is_one_query_and_counts_only_today(user, other_user, demo_bot,
                                                        django_assert_num_queries):
    _history(user, demo_bot, 3)
    chat = ConversationFactory(owner=user, bot=demo_bot)
    MessageFactory(conversation=chat, role=Message.Role.USER)
    MessageFactory(conversation=chat, role=Message.Role.ASSISTANT, prompt_tokens=10,
                   completion_tokens=5)
    MessageFactory(conversation=ConversationFactory(owner=other_user, bot=demo_bot))
    with django_assert_num_queries(1):
        used = usage_today(user)
    assert (used.messages, used.tokens) == (1, 15)
    _history(user, demo_bot, 30)
    with django_assert_num_queries(1):
        many = usage_today_many([user, other_user])
    assert (many[user.pk].messages, many[other_user.pk].messages) == (1, 1)


def test_usage_follows_a_conversation_that_moves_to_another_person(user, other_user, demo_bot):
    chat = ConversationFactory(owner=other_user, bot=demo_bot)
    MessageFactory(conversation=chat, role=Message.Role.USER)
    # As a guest's conversation moves to the account made at sign-up (accounts.guests).
    Conversation.objects.filter(pk=chat.pk).update(owner=user)
    assert usage_today(user).messages == 1 and usage_today(other_user).messages == 0


def test_the_quota_check_and_the_sidebar_plans_use_their_indexes(user, demo_bot):
    require(is_postgres(), "the plans are PostgreSQL's: set DATABASE_URL")
    _history(user, demo_bot, 30)
    with CaptureQueriesContext(connection) as queries:
        usage_today(user)
        list(selectors.sidebar_conversations(user)[:100])
    usage, sidebar = (q["sql"] for q in queries)
    assert "msg_owner_time" in _explain(usage)
    plan = _explain(sidebar)
    # Walked in the sidebar's own order: no sort of every conversation, whatever their number.
    assert "conv_owner_listed" in plan and "Sort" not in plan, plan


def test_the_api_list_pages_without_counting(api, user, demo_bot):
    _history(user, demo_bot, 45)
    with CaptureQueriesContext(connection) as queries:
        first = api.get("/api/v1/conversations/").json()
    assert not any("COUNT(" in q["sql"].upper() for q in queries)
    assert "count" not in first and len(first["results"]) == 20 and first["previous"] is None
    second = api.get(first["next"]).json()
    assert len(second["results"]) == 20 and second["previous"] and second["next"]
    third = api.get(second["next"]).json()
    assert len(third["results"]) == 5 and third["next"] is None
    seen = [c["id"] for page in (first, second, third) for c in page["results"]]
    assert len(set(seen)) == 45
    assert api.get("/api/v1/conversations/", {"page": 4}).status_code == 404
    assert api.get("/api/v1/conversations/", {"page": 0}).status_code == 404
    assert api.get("/api/v1/conversations/", {"page": "x"}).json()["error"]["code"] == "not_found"
    # An empty list is a page, not a 404.
    Conversation.objects.all().delete()
    assert api.get("/api/v1/conversations/").json() == {"next": None, "previous": None,
                                                        "results": []}


def test_the_api_list_costs_the_same_queries_whatever_the_history(api, user, demo_bot):
    _history(user, demo_bot, 3)
    api.get("/api/v1/conversations/")  # warm: the token's last use
    with CaptureQueriesContext(connection) as small:
        api.get("/api/v1/conversations/")
    _history(user, demo_bot, 60)
    with CaptureQueriesContext(connection) as large:
        api.get("/api/v1/conversations/", {"page": 3})
    assert len(large) == len(small)
