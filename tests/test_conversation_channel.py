"""Every conversation records where it was started, for the analytics breakdown by channel."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.services.tokens import api_token_create
from conversations.models import Channel, Conversation
from conversations.services.messages import message_send

pytestmark = pytest.mark.django_db


def test_it_marks_a_conversation_started_on_the_web(user, demo_bot):
    sent = message_send(user=user, content="Hello there")
    assert Conversation.objects.get(pk=sent.conversation.pk).channel == Channel.WEB


def test_it_marks_a_conversation_started_through_the_rest_api(user, demo_bot):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=user, name='t')[1]}")
    response = api.post("/api/v1/conversations/", {"title": "From a script"}, format="json")
    assert response.status_code == 201, response.content
    assert Conversation.objects.get(pk=response.json()["id"]).channel == Channel.API


def test_a_later_message_keeps_the_channel_it_started_on(user, demo_bot):
    sent = message_send(user=user, content="First", channel=Channel.TELEGRAM)
    sent.reply.status = "complete"
    sent.reply.save(update_fields=["status"])
    message_send(user=user, content="Second", conversation_id=sent.conversation.pk)
    assert Conversation.objects.get(pk=sent.conversation.pk).channel == Channel.TELEGRAM
