"""Guests try the default bot within a small allowance and keep their chat when they sign up."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.utils import timezone

from accounts.guests import guests_purge
from accounts.models import RolePolicy, User
from chatlab_site.asgi import application
from conversations.models import Conversation
from tests.factories import BotFactory
from tests.test_consumer import ORIGIN, frames_until

pytestmark = pytest.mark.django_db(transaction=True)


async def guest_socket(client: Client, path: str = "/ws/chat/") -> WebsocketCommunicator:
    await sync_to_async(client.get)("/")  # the page creates the session the socket uses
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    comm = WebsocketCommunicator(application, path, headers=[ORIGIN, (b"cookie", cookie)])
    assert (await comm.connect())[0]
    return comm


def test_a_visitor_sees_the_default_bot_only(client, demo_bot):
    BotFactory(slug="premium", name="Premium bot")
    page = client.get("/").content.decode()
    assert "Demo" in page and "Premium bot" not in page
    assert "sign up" in page.lower()


async def test_a_guest_chats_and_keeps_the_chat_on_sign_up(demo_bot):
    client = Client()
    comm = await guest_socket(client)
    await comm.send_json_to({"type": "send", "content": "Hi as a guest"})
    frames = await frames_until(comm, lambda f: f.get("type") == "done")
    assert frames[-1]["status"] == "complete"
    await comm.disconnect()
    conversation = await Conversation.objects.select_related("owner").aget()
    assert conversation.owner.is_guest
    # The guest's page lists the conversation; a stranger's session does not.
    page = await sync_to_async(client.get)(f"/c/{conversation.pk}/")
    assert page.status_code == 200 and b"Hi as a guest" in page.content
    stranger = await sync_to_async(Client().get)(f"/c/{conversation.pk}/")
    assert stranger.status_code == 404
    await sync_to_async(client.post)("/accounts/signup/", {
        "email": "convert@example.com", "password1": "a-Long-passphrase-1",
        "password2": "a-Long-passphrase-1"})
    conversation = await Conversation.objects.select_related("owner").aget()
    assert conversation.owner.email == "convert@example.com"
    assert not await User.objects.filter(is_guest=True).aexists()


async def test_a_guest_hits_the_small_allowance(demo_bot):
    await sync_to_async(RolePolicy.objects.filter(role="guest").update)(messages_per_day=1)
    client = Client()
    comm = await guest_socket(client)
    await comm.send_json_to({"type": "send", "content": "one"})
    frames = await frames_until(comm, lambda f: f.get("type") == "done")
    await comm.send_json_to({"type": "send", "content": "two"})
    error = await comm.receive_json_from()
    assert error["code"] == "quota" and "all 1 message for today" in error["message"]
    await comm.disconnect()
    assert frames


async def test_a_guest_cannot_open_another_guests_conversation(demo_bot):
    first, second = Client(), Client()
    comm = await guest_socket(first)
    await comm.send_json_to({"type": "send", "content": "mine"})
    frames = await frames_until(comm, lambda f: f.get("type") == "done")
    await comm.disconnect()
    conversation_id = frames[0]["conversation"]
    await sync_to_async(second.get)("/")
    cookie = f"sessionid={second.cookies['sessionid'].value}".encode()
    intruder = WebsocketCommunicator(application, f"/ws/chat/{conversation_id}/",
                                     headers=[ORIGIN, (b"cookie", cookie)])
    connected, code = await intruder.connect()
    assert not connected and code == 4404


def test_guests_have_no_profile_or_tokens(client, demo_bot):
    client.get("/")
    assert client.get("/accounts/profile/").status_code == 302


def test_old_guests_are_purged_with_their_data(demo_bot):
    old = User.objects.create(email="guest-old@guest.invalid", is_guest=True)
    User.objects.filter(pk=old.pk).update(date_joined=timezone.now() - timedelta(days=30))
    Conversation.objects.create(owner=old, bot=demo_bot)
    fresh = User.objects.create(email="guest-new@guest.invalid", is_guest=True)
    real = User.objects.create(email="real@example.com")
    User.objects.filter(pk=real.pk).update(date_joined=timezone.now() - timedelta(days=30))
    assert guests_purge() >= 1
    assert set(User.objects.values_list("pk", flat=True)) == {fresh.pk, real.pk}
    assert not Conversation.objects.exists()
