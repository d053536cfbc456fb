from __future__ import annotations

import uuid

import pytest

from django.utils import timezone

from conversations.models import Conversation, Message
from conversations.services.errors import ChatError
from conversations.services.messages import message_send, reply_regenerate
from tests.factories import BotFactory, ConversationFactory

pytestmark = pytest.mark.django_db


def test_it_starts_a_conversation_with_the_default_bot(user, demo_bot):
    BotFactory(slug="other", position=5)
    sent = message_send(user=user, content="  Plan a trip to Lisbon  ")
    assert sent.created_conversation and sent.is_new
    assert sent.conversation.bot == demo_bot and sent.conversation.owner == user
    assert sent.conversation.title == "Plan a trip to Lisbon"
    assert sent.user_message.content == "Plan a trip to Lisbon"
    assert sent.reply.status == "pending" and sent.reply.reply_to == sent.user_message


def test_a_long_first_message_makes_a_short_title(user, demo_bot):
    sent = message_send(user=user, content="word " * 100)
    assert len(sent.conversation.title) <= 60 and sent.conversation.title.endswith("…")


@pytest.mark.parametrize("content, code", [
    ("", "empty"), ("   \n ", "empty"), (None, "invalid"), (42, "invalid"), ("x" * 40_000, "too_long"),
])
def test_bad_content_is_refused_and_nothing_is_stored(user, demo_bot, content, code):
    with pytest.raises(ChatError) as err:
        message_send(user=user, content=content)
    assert err.value.code == code
    assert Message.objects.count() == 0


def test_an_unknown_or_inactive_bot_is_refused(user, demo_bot):
    BotFactory(slug="off", is_active=False)
    for slug in ("nope", "off"):
        with pytest.raises(ChatError) as err:
            message_send(user=user, content="hi", bot_slug=slug)
        assert err.value.code == "unknown_bot"


def test_no_bot_at_all_is_a_clear_error(user):
    with pytest.raises(ChatError) as err:
        message_send(user=user, content="hi")
    assert err.value.code == "no_bot"


def test_someone_elses_conversation_is_not_found(user, other_user, demo_bot):
    theirs = ConversationFactory(owner=other_user, bot=demo_bot)
    with pytest.raises(ChatError) as err:
        message_send(user=user, content="hi", conversation_id=theirs.pk)
    assert err.value.code == "not_found" and err.value.status == 404
    assert theirs.messages.count() == 0


def test_one_reply_at_a_time_per_conversation(user, demo_bot):
    first = message_send(user=user, content="one")
    with pytest.raises(ChatError) as err:
        message_send(user=user, content="two", conversation_id=first.conversation.pk)
    assert err.value.code == "busy"


def test_the_same_client_id_is_stored_once(user, demo_bot):
    client_id = str(uuid.uuid4())
    first = message_send(user=user, content="hi", client_id=client_id)
    again = message_send(user=user, content="hi", client_id=client_id)
    assert not again.is_new and again.reply.pk == first.reply.pk
    assert Message.objects.count() == 2


def test_someone_elses_client_id_is_refused_not_replayed(user, other_user, demo_bot):
    client_id = str(uuid.uuid4())
    message_send(user=other_user, content="theirs", client_id=client_id)
    with pytest.raises(ChatError) as err:
        message_send(user=user, content="mine", client_id=client_id)
    assert err.value.code == "duplicate"
    assert not Message.objects.filter(content="mine").exists()


def test_a_malformed_client_id_is_refused(user, demo_bot):
    with pytest.raises(ChatError):
        message_send(user=user, content="hi", client_id="not-a-uuid")


def test_regenerate_only_the_last_finished_reply(user, demo_bot):
    first = message_send(user=user, content="one")
    with pytest.raises(ChatError) as err:
        reply_regenerate(user=user, message_id=first.reply.pk)
    assert err.value.code == "busy"
    Message.objects.filter(pk=first.reply.pk).update(status="complete", content="answer")
    second = message_send(user=user, content="two", conversation_id=first.conversation.pk)
    Message.objects.filter(pk=second.reply.pk).update(status="failed", error="boom")
    with pytest.raises(ChatError) as err:
        reply_regenerate(user=user, message_id=first.reply.pk)
    assert err.value.code == "not_last"
    new = reply_regenerate(user=user, message_id=second.reply.pk)
    assert new.reply_to == second.user_message and new.status == "pending"
    second.reply.refresh_from_db()
    assert second.reply.superseded_at is not None
    with pytest.raises(ChatError) as err:
        reply_regenerate(user=user, message_id=second.reply.pk)
    assert err.value.code == "stale"


def test_regenerating_someone_elses_reply_is_not_found(user, other_user, demo_bot):
    theirs = message_send(user=other_user, content="x")
    Message.objects.filter(pk=theirs.reply.pk).update(status="complete")
    with pytest.raises(ChatError) as err:
        reply_regenerate(user=user, message_id=theirs.reply.pk)
    assert err.value.code == "not_found"


def test_a_reply_in_the_trash_cannot_be_regenerated(user, demo_bot):
    sent = message_send(user=user, content="x")
    Message.objects.filter(pk=sent.reply.pk).update(status="complete")
    Conversation.objects.filter(pk=sent.conversation.pk).update(deleted_at=timezone.now())
    with pytest.raises(ChatError) as err:
        reply_regenerate(user=user, message_id=sent.reply.pk)
    assert err.value.code == "not_found"
    assert Message.objects.filter(role="assistant").count() == 1


def test_a_retried_send_while_its_reply_runs_gets_the_stored_one(user, demo_bot):
    client_id = str(uuid.uuid4())
    first = message_send(user=user, content="hi", client_id=client_id)
    assert first.reply.status == "pending"  # still being written
    again = message_send(user=user, content="hi", client_id=client_id,
                         conversation_id=first.conversation.pk)
    assert not again.is_new and again.reply.pk == first.reply.pk


def test_a_send_costs_a_bounded_number_of_queries(user, demo_bot, django_assert_max_num_queries):
    first = message_send(user=user, content="warm up")
    Message.objects.filter(pk=first.reply.pk).update(status="complete")
    with django_assert_max_num_queries(10):
        message_send(user=user, content="next", conversation_id=first.conversation.pk,
                     client_id=str(uuid.uuid4()))
