"""Telegram's webhook: the secret, bad bodies, duplicates, groups, and a private round trip."""

from __future__ import annotations

import pytest

from conversations.models import Channel, Conversation, Message
from integrations.models import Delivery, MessengerIdentity
from tests.telegram_support import (  # noqa: F401  (fixtures)
    fake_telegram, fake_telegram_server, message_update, post_update, telegram,
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_refuses_a_missing_or_wrong_secret_and_starts_nothing(client, telegram,
                                                                    fake_telegram):
    update = message_update("hello")
    assert post_update(client, telegram, update, secret="").status_code == 403
    assert post_update(client, telegram, update, secret="wrong-secret").status_code == 403
    # The right secret of another integration is refused as well (secrets are per integration).
    response = client.post("/integrations/telegram/999999/", "{}", content_type="application/json",
                           HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=telegram.webhook_secret)
    assert response.status_code == 403
    assert not Delivery.objects.exists()
    assert not Message.objects.exists()
    assert fake_telegram.calls == []


def test_a_disabled_integration_is_refused(client, telegram, fake_telegram):
    telegram.enabled = False
    telegram.save()
    assert post_update(client, telegram, message_update("hello")).status_code == 403
    assert not Delivery.objects.exists()


@pytest.mark.parametrize("body", [
    "not json at all", "[1, 2]", '{"update_id": "x"}',
    # Update types the bot does not handle: an edited message, a channel post, a callback.
    '{"update_id": 1, "edited_message": {"message_id": 1, "date": 1, "chat": {"id": 1, '
    '"type": "private"}, "text": "x"}}',
    '{"update_id": 2, "my_chat_member": {"chat": {"id": 1, "type": "private"}}}',
    # A message without text (a sticker).
    '{"update_id": 3, "message": {"message_id": 1, "date": 1, "chat": {"id": 1, "type": '
    '"private"}, "from": {"id": 1, "is_bot": false, "first_name": "A"}}}',
])
def test_bad_bodies_and_unknown_updates_get_200_and_no_task(client, telegram, fake_telegram,
                                                            body):
    response = post_update(client, telegram, body)
    assert response.status_code == 200
    assert not Delivery.objects.exists()
    assert fake_telegram.calls == []


def test_private_round_trip_with_the_demo_bot(client, telegram, fake_telegram):
    response = post_update(client, telegram, message_update("Hello there, how are you today?"))
    assert response.status_code == 200 and response.json() == {"ok": True}

    conversation = Conversation.objects.get()
    assert conversation.channel == Channel.TELEGRAM
    assert conversation.bot == telegram.bot
    identity = MessengerIdentity.objects.get()
    assert identity.external_id == "4242" and identity.user.is_guest
    assert conversation.owner == identity.user
    reply = conversation.messages.get(role=Message.Role.ASSISTANT)
    assert reply.status == Message.Status.COMPLETE and reply.content

    sends = fake_telegram.calls_of("sendMessage")
    assert len(sends) == 1 and sends[0].params["chat_id"] == 4242
    assert sends[0].params["parse_mode"] == "HTML"
    edits = fake_telegram.calls_of("editMessageText")
    # The message shows the whole reply at the end: the last text sent or edited in.
    last = edits[-1].params["text"] if edits else sends[0].params["text"]
    assert last == telegram_render(reply.content)
    assert fake_telegram.shown() == [telegram_render(reply.content)]


def telegram_render(text: str) -> str:
    from integrations.telegram.render import markdown_to_telegram_html

    return markdown_to_telegram_html(text)


def test_the_same_update_twice_gets_exactly_one_reply(client, telegram, fake_telegram):
    update = message_update("Tell me something nice please")
    first = post_update(client, telegram, update)
    second = post_update(client, telegram, update)
    assert first.status_code == second.status_code == 200
    assert Delivery.objects.count() == 1
    assert Message.objects.filter(role=Message.Role.USER).count() == 1
    assert len(fake_telegram.calls_of("sendMessage")) == 1


def test_groups_answer_mentions_and_replies_only(client, telegram, fake_telegram):
    group = {"chat_type": "supergroup", "chat_id": -100555}
    post_update(client, telegram, message_update("just people talking here", **group))
    post_update(client, telegram, message_update("/new@some_other_bot", **group))
    assert fake_telegram.calls == [] and not Delivery.objects.exists()

    post_update(client, telegram, message_update("@chatlab_test_bot what is two plus two?",
                                                 **group))
    user_message = Message.objects.get(role=Message.Role.USER)
    assert user_message.content == "what is two plus two?"  # the mention is not part of it
    post_update(client, telegram, message_update("and three more?", reply_to_bot=True, **group))
    assert Message.objects.filter(role=Message.Role.USER).count() == 2

    sends = fake_telegram.calls_of("sendMessage")
    assert len(sends) == 2
    # In a group the answer quotes the question it answers.
    assert all(s.params["reply_parameters"]["message_id"] for s in sends)
    assert {s.params["chat_id"] for s in sends} == {-100555}


def test_a_group_command_addressed_to_the_bot_is_answered(client, telegram, fake_telegram):
    post_update(client, telegram, message_update("/usage@chatlab_test_bot",
                                                 chat_type="group", chat_id=-42))
    (send,) = fake_telegram.calls_of("sendMessage")
    assert "role guest" in send.params["text"]


def test_the_webhook_costs_a_fixed_few_queries(client, telegram, fake_telegram,
                                               django_assert_max_num_queries, monkeypatch):
    # The handling runs elsewhere (its own connection); the view reads the integration and
    # records the delivery, whatever the update says.
    monkeypatch.setattr("integrations.services.inbound._dispatch", lambda payload: None)
    for text in ("hello", "/start", "/image a cat"):
        with django_assert_max_num_queries(4):
            response = post_update(client, telegram, message_update(text), wait=False)
            assert response.status_code == 200
    assert Delivery.objects.count() == 3
