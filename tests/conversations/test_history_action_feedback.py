"""The ⋯ menu's actions tell what they did, and a move to the trash can be undone at once."""

import pytest
from django.urls import reverse

from conversations.models import Conversation
from tests.factories import ConversationFactory

pytestmark = pytest.mark.django_db


def act(client, conversation: Conversation, action: str):
    return client.post(reverse("conversation-action", args=[conversation.pk]),
                       {"action": action}, follow=True)


def flash(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_archiving_says_where_the_conversation_went(logged_in, user, demo_bot):
    conversation = ConversationFactory(owner=user, bot=demo_bot, title="Soup")
    response = act(logged_in, conversation, "archive")
    assert flash(response) == ["Archived: it is under Archive now."]
    assert response.redirect_chain[-1][0] == reverse("conversation", args=[conversation.pk])
    assert flash(act(logged_in, conversation, "unarchive")) == ["Back in your conversations."]


def test_a_move_to_the_trash_offers_an_undo_once(logged_in, user, demo_bot):
    conversation = ConversationFactory(owner=user, bot=demo_bot, title="Soup")
    response = act(logged_in, conversation, "delete")
    assert flash(response) == ["Moved to the trash."]
    restore = reverse("trash-action", args=[conversation.pk, "restore"])
    page = response.content.decode()
    assert f'action="{restore}"' in page and 'id="undo-trash"' in page
    # Only right after the move: the next page has no undo.
    assert 'id="undo-trash"' not in logged_in.get(reverse("chat")).content.decode()

    here = reverse("conversation", args=[conversation.pk])
    undone = logged_in.post(restore, {"next": here}, follow=True)
    assert undone.redirect_chain == [(here, 302)]
    assert flash(undone) == ["“Soup” is back."]
    conversation.refresh_from_db()
    assert conversation.deleted_at is None


def test_no_undo_for_a_conversation_no_longer_in_the_trash(logged_in, user, demo_bot):
    conversation = ConversationFactory(owner=user, bot=demo_bot)
    act(logged_in, conversation, "delete")
    Conversation.objects.filter(pk=conversation.pk).update(deleted_at=None)
    assert 'id="undo-trash"' not in logged_in.get(reverse("chat")).content.decode()


def test_restoring_from_the_trash_page_stays_there(logged_in, user, demo_bot):
    conversation = ConversationFactory(owner=user, bot=demo_bot)
    act(logged_in, conversation, "delete")
    response = logged_in.post(reverse("trash-action", args=[conversation.pk, "restore"]))
    assert response["Location"] == reverse("trash")
