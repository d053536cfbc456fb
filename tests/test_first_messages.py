"""First messages stored together: the same checks as one by one, in a fixed number of queries."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import RolePolicy
from conversations.models import Conversation, Message
from conversations.services import first_messages as batching
from conversations.services.errors import ChatError
from conversations.services.messages import (
    NewConversationSend,
    SentMessage,
    message_send,
    new_conversations_send,
)
from tests.factories import BotFactory, UserFactory


def _sends(count: int, **kwargs) -> list[NewConversationSend]:
    return [NewConversationSend(user=UserFactory(), content=f"hello {i}", **kwargs)
            for i in range(count)]


@pytest.mark.django_db
def test_many_first_messages_cost_the_same_queries_as_a_few(demo_bot):
    few, many = _sends(3), _sends(30)
    with CaptureQueriesContext(connection) as small:
        new_conversations_send(few)
    with CaptureQueriesContext(connection) as large:
        stored = new_conversations_send(many)
    assert len(large) == len(small) <= 9
    assert all(isinstance(s, SentMessage) and s.is_new and s.created_conversation for s in stored)
    assert Conversation.objects.count() == 33 and Message.objects.count() == 66
    # Each reply answers its own message, stored after it, with the bot's model.
    for sent, send in zip(stored, many, strict=True):
        reply = Message.objects.get(pk=sent.reply.pk)
        assert reply.reply_to_id == sent.user_message.pk
        assert reply.created_at > sent.user_message.created_at
        assert reply.conversation.owner_id == send.user.pk
        assert sent.conversation.title == send.content


@pytest.mark.django_db
def test_each_send_in_a_batch_is_checked_on_its_own(demo_bot):
    other_bot = BotFactory(slug="other")
    RolePolicy.objects.filter(role="user").update(messages_per_day=1)
    ok, spent, empty, unknown, chosen = _sends(5)
    message_send(user=spent.user, content="earlier today")  # uses up spent's one message
    sends = [
        ok,
        spent,
        NewConversationSend(user=empty.user, content="   "),
        NewConversationSend(user=unknown.user, content="hi", bot_slug="nope"),
        NewConversationSend(user=chosen.user, content="hi", bot_slug="other"),
    ]
    results = new_conversations_send(sends)
    assert isinstance(results[0], SentMessage)
    assert isinstance(results[1], ChatError) and results[1].code == "quota"
    assert results[1].retry_after and results[1].retry_after > 0
    assert isinstance(results[2], ChatError) and results[2].code == "empty"
    assert isinstance(results[3], ChatError) and results[3].code == "unknown_bot"
    assert isinstance(results[4], SentMessage) and results[4].conversation.bot == other_bot
    assert results[0].conversation.bot == demo_bot
    # Only what was admitted is stored (plus spent's earlier message and its reply).
    assert Message.objects.filter(role="user").count() == 3


@pytest.mark.django_db
def test_a_role_limited_to_some_bots_and_guests_get_only_theirs(demo_bot):
    other_bot = BotFactory(slug="other")
    policy = RolePolicy.objects.get(role="user")
    policy.all_bots = False
    policy.save()
    policy.bots.set([other_bot])
    guest = UserFactory(is_guest=True)
    results = new_conversations_send([
        NewConversationSend(user=UserFactory(), content="hi"),
        NewConversationSend(user=UserFactory(), content="hi", bot_slug=demo_bot.slug),
        NewConversationSend(user=guest, content="hi", bot_slug="other"),
        NewConversationSend(user=guest, content="hi again"),
    ])
    assert results[0].conversation.bot == other_bot
    assert isinstance(results[1], ChatError) and results[1].code == "unknown_bot"
    assert isinstance(results[2], ChatError) and results[2].code == "unknown_bot"
    assert results[3].conversation.bot == demo_bot


@pytest.mark.django_db
def test_a_repeated_client_id_answers_with_the_first_store(demo_bot):
    repeat = uuid.uuid4()
    first = new_conversations_send([NewConversationSend(user=(u := UserFactory()), content="once",
                                                        client_id=repeat)])[0]
    results = new_conversations_send([
        NewConversationSend(user=u, content="once", client_id=repeat),
        NewConversationSend(user=UserFactory(), content="someone else"),
    ])
    assert results[0].is_new is False and results[0].reply.pk == first.reply.pk
    assert results[1].is_new is True
    assert Message.objects.filter(client_id=repeat).count() == 1
    assert Conversation.objects.count() == 2


@pytest.mark.django_db
def test_a_deactivated_account_is_refused_in_the_socket_batch(demo_bot):
    gone = UserFactory(is_active=False)
    kept = UserFactory()
    results = batching.store_first_messages([
        NewConversationSend(user=gone, content="hi"),
        NewConversationSend(user=kept, content="hi"),
    ])
    assert isinstance(results[0], ChatError) and results[0].code == "deactivated"
    assert isinstance(results[1], SentMessage)
    assert not Conversation.objects.filter(owner=gone).exists()


@pytest.mark.django_db(transaction=True)
async def test_sockets_sending_together_share_batches(demo_bot, monkeypatch):
    from asgiref.sync import sync_to_async

    users = [await sync_to_async(UserFactory)() for _ in range(20)]
    sizes: list[int] = []
    real = batching.store_first_messages

    def counted(sends):
        sizes.append(len(sends))
        return real(sends)

    monkeypatch.setattr(batching, "store_first_messages", counted)
    queue = batching.FirstMessages()
    stored = await asyncio.gather(*(
        queue.store(NewConversationSend(user=u, content=f"hi {i}")) for i, u in enumerate(users)
    ))
    assert [s.conversation.owner_id for s in stored] == [u.pk for u in users]
    assert sum(sizes) == 20 and len(sizes) < 20
    with pytest.raises(ChatError) as refused:
        await queue.store(NewConversationSend(user=users[0], content=""))
    assert refused.value.code == "empty"


def _early(user, text: str) -> NewConversationSend:
    """A send whose model request has already left (services.early)."""
    return NewConversationSend(user=user, content=text, ids=(uuid.uuid4(), uuid.uuid4()))


@pytest.mark.django_db(transaction=True)
async def test_sends_whose_requests_left_are_stored_once_the_burst_is_over(demo_bot, monkeypatch):
    import time

    from asgiref.sync import sync_to_async

    users = [await sync_to_async(UserFactory)() for _ in range(8)]
    starts: list[tuple[float, int]] = []
    real = batching.store_first_messages

    def counted(sends):
        starts.append((time.monotonic(), len(sends)))
        return real(sends)

    monkeypatch.setattr(batching, "store_first_messages", counted)
    queue = batching.FirstMessages()
    pending = []
    for i, user in enumerate(users):
        queue.note_frame()
        last_frame = time.monotonic()
        pending.append(asyncio.create_task(queue.store(_early(user, f"hi {i}"))))
        await asyncio.sleep(0.005)  # the next socket's frame
    stored = await asyncio.gather(*pending)
    assert [s.conversation.owner_id for s in stored] == [u.pk for u in users]
    assert [size for _, size in starts] == [8]  # one batch, after the frames stopped
    assert starts[0][0] - last_frame >= batching.LINGER_QUIET * 0.9

    # A send whose request waits for the store (no early start) is stored at once.
    asked = time.monotonic()
    await queue.store(NewConversationSend(user=users[0], content="and now?"))
    assert starts[1][0] - asked < batching.LINGER_QUIET


@pytest.mark.django_db(transaction=True)
async def test_the_wait_for_a_quiet_moment_is_bounded(demo_bot, monkeypatch):
    import time

    from asgiref.sync import sync_to_async

    user = await sync_to_async(UserFactory)()
    started: list[float] = []
    real = batching.store_first_messages
    monkeypatch.setattr(batching, "store_first_messages",
                        lambda sends: started.append(time.monotonic()) or real(sends))
    queue = batching.FirstMessages()
    queue.note_frame()
    asked = time.monotonic()
    store = asyncio.create_task(queue.store(_early(user, "hello")))
    while not store.done():  # frames never stop coming
        queue.note_frame()
        await asyncio.sleep(0.005)
    assert (await store).is_new
    assert batching.LINGER_MAX * 0.9 <= started[0] - asked < batching.LINGER_MAX + 0.25
