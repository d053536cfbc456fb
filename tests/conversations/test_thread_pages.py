"""A conversation of any length opens like a short one (issue #20): the chat page embeds the
newest messages only, and /c/<id>/earlier/ gives the ones before, a page at a time."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.guests import guest_create
from conversations.models import Message
from conversations.services.thread_pages import THREAD_PAGE_SIZE
from tests.conversations.threads import long_thread
from tests.factories import ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db


def _state(response) -> dict:
    found = re.search(rb'<script id="chat-state" type="application/json">(.*?)</script>',
                      response.content, re.S)
    return json.loads(found.group(1))


def test_the_page_weighs_the_same_for_2000_messages_as_for_100(
        logged_in, user, demo_bot, django_assert_num_queries):
    short = ConversationFactory(owner=user, bot=demo_bot)
    long_thread(short, 100)
    long = ConversationFactory(owner=user, bot=demo_bot)
    long_thread(long, 2000)
    logged_in.get(f"/c/{short.pk}/")  # the session and caches, warm for both
    with CaptureQueriesContext(connection) as captured:
        small = logged_in.get(f"/c/{short.pk}/")
    queries = len(captured.captured_queries)
    with django_assert_num_queries(queries):
        big = logged_in.get(f"/c/{long.pk}/")
    assert small.status_code == big.status_code == 200
    assert len(big.content) < 1.2 * len(small.content)
    state = _state(big)
    assert state["hasEarlier"] is True
    assert [m["content"] for m in state["messages"]] == [
        f"turn {n}" for n in range(2000 - THREAD_PAGE_SIZE, 2000)]
    assert _state(small)["hasEarlier"] is True


def test_a_short_conversation_has_nothing_earlier(logged_in, user, demo_bot):
    chat = ConversationFactory(owner=user, bot=demo_bot)
    long_thread(chat, 10)
    state = _state(logged_in.get(f"/c/{chat.pk}/"))
    assert state["hasEarlier"] is False and len(state["messages"]) == 10


def test_earlier_pages_walk_back_to_the_first_message_in_constant_queries(
        logged_in, user, demo_bot, django_assert_num_queries):
    chat = ConversationFactory(owner=user, bot=demo_bot)
    ids = long_thread(chat, 3 * THREAD_PAGE_SIZE + 7)
    state = _state(logged_in.get(f"/c/{chat.pk}/"))
    seen = [m["content"] for m in state["messages"]]
    before, pages = state["messages"][0]["id"], 0
    while True:
        # session, user, conversation, cursor, the page with its versions: whatever the page.
        with django_assert_num_queries(5):
            response = logged_in.get(f"/c/{chat.pk}/earlier/", {"before": before})
        assert response.status_code == 200
        body = response.json()
        pages += 1
        seen = [m["content"] for m in body["messages"]] + seen
        if not body["hasEarlier"]:
            break
        before = body["messages"][0]["id"]
    assert pages == 3
    assert seen == [f"turn {n}" for n in range(len(ids))]
    assert body["messages"][0]["id"] == str(ids[0])


def test_messages_sharing_one_timestamp_are_each_paged_once(logged_in, user, demo_bot):
    chat = ConversationFactory(owner=user, bot=demo_bot)
    ids = long_thread(chat, 2 * THREAD_PAGE_SIZE + 20, apart=timedelta(0))
    state = _state(logged_in.get(f"/c/{chat.pk}/"))
    seen, body = [m["id"] for m in state["messages"]], state
    while body["hasEarlier"]:
        body = logged_in.get(f"/c/{chat.pk}/earlier/", {"before": seen[0]}).json()
        seen = [m["id"] for m in body["messages"]] + seen
    assert seen == sorted(str(pk) for pk in ids)


@pytest.mark.parametrize("at", [10, THREAD_PAGE_SIZE], ids=["mid-page", "first-of-the-page"])
def test_a_page_carries_its_messages_earlier_versions(logged_in, user, demo_bot, at):
    chat = ConversationFactory(owner=user, bot=demo_bot)
    ids = long_thread(chat, 2 * THREAD_PAGE_SIZE, start=timezone.now() - timedelta(days=2))
    # A question was asked twice, its reply regenerated once: in the middle of the earlier page,
    # or as the newest page's first message, its first wording older than the page itself.
    question = Message.objects.get(pk=ids[at])
    answer = Message.objects.get(pk=ids[at + 1])
    old_question = MessageFactory(conversation=chat, content="first wording",
                                  superseded_at=timezone.now())
    old_reply = MessageFactory(conversation=chat, role=Message.Role.ASSISTANT, content="old",
                               reply_to=question, superseded_at=timezone.now())
    Message.objects.filter(pk=old_question.pk).update(
        created_at=question.created_at - timedelta(milliseconds=500))
    Message.objects.filter(pk=old_reply.pk).update(
        created_at=answer.created_at - timedelta(milliseconds=500))
    Message.objects.filter(pk=question.pk).update(replaces=old_question)
    state = _state(logged_in.get(f"/c/{chat.pk}/"))
    body = logged_in.get(f"/c/{chat.pk}/earlier/",
                         {"before": state["messages"][0]["id"]}).json()
    assert body["hasEarlier"] is False
    assert len(state["messages"]) == len(body["messages"]) == THREAD_PAGE_SIZE
    by_id = {m["id"]: m for m in body["messages"] + state["messages"]}
    assert [v["content"] for v in by_id[str(question.pk)]["versions"]] == ["first wording"]
    assert [v["content"] for v in by_id[str(answer.pk)]["versions"]] == ["old"]
    assert "first wording" not in [m["content"] for m in body["messages"] + state["messages"]]


def test_another_person_gets_a_404_and_a_bad_cursor_a_clear_error(
        client, logged_in, user, other_user, demo_bot):
    mine = ConversationFactory(owner=user, bot=demo_bot)
    ids = long_thread(mine, 4)
    theirs = ConversationFactory(owner=other_user, bot=demo_bot)
    their_ids = long_thread(theirs, 4)
    assert logged_in.get(f"/c/{theirs.pk}/earlier/", {"before": str(their_ids[-1])}).status_code == 404
    # A message of another conversation is no cursor into this one.
    assert logged_in.get(f"/c/{mine.pk}/earlier/", {"before": str(their_ids[-1])}).status_code == 404
    bad = logged_in.get(f"/c/{mine.pk}/earlier/", {"before": "not-an-id"})
    assert bad.status_code == 400 and "before" in bad.json()["error"]
    assert logged_in.get(f"/c/{mine.pk}/earlier/").status_code == 400
    ok = logged_in.get(f"/c/{mine.pk}/earlier/", {"before": str(ids[-1])}).json()
    assert [m["content"] for m in ok["messages"]] == ["turn 0", "turn 1", "turn 2"]
    # A visitor without the owner's session sees nothing.
    assert Client().get(f"/c/{mine.pk}/earlier/", {"before": str(ids[-1])}).status_code == 404


def test_a_guest_pages_their_own_conversation_only(settings, demo_bot, user):
    settings.CHATLAB_GUEST_CHAT = True
    visitor = Client()
    session = visitor.session
    guest = guest_create(session)
    session.save()
    theirs = ConversationFactory(owner=guest, bot=demo_bot)
    ids = long_thread(theirs, 4)
    someone = ConversationFactory(owner=user, bot=demo_bot)
    other_ids = long_thread(someone, 4)
    response = visitor.get(f"/c/{theirs.pk}/earlier/", {"before": str(ids[-1])})
    assert response.status_code == 200 and len(response.json()["messages"]) == 3
    assert visitor.get(f"/c/{someone.pk}/earlier/",
                       {"before": str(other_ids[-1])}).status_code == 404
    assert Client().get(f"/c/{theirs.pk}/earlier/", {"before": str(ids[-1])}).status_code == 404
    settings.CHATLAB_GUEST_CHAT = False
    assert visitor.get(f"/c/{theirs.pk}/earlier/", {"before": str(ids[-1])}).status_code == 404
