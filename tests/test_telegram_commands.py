"""Every Telegram command, and /link turning the guest into the Chatlab user."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.utils import timezone
from PIL import Image

from accounts.models import RolePolicy, User
from conversations.models import Conversation, Message
from imaging.models import ImageJob, ImageModel
from integrations.models import LinkCode, MessengerIdentity
from integrations.services.people import link_code_create
from tests.factories import BotFactory, UserFactory
from tests.telegram_support import (  # noqa: F401  (fixtures)
    fake_telegram, fake_telegram_server, message_update, post_update, telegram,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def say(client, telegram, fake_telegram):
    def say(text: str, **kwargs) -> str:
        """Sends text to the bot; returns what the bot shows last (its final text)."""
        post_update(client, telegram, message_update(text, **kwargs))
        shown = fake_telegram.shown()
        return shown[-1] if shown else ""

    return say


def test_start_greets_and_tells_a_guest_how_to_link(say, client, telegram, fake_telegram):
    answer = say("/start")
    assert "Hello! I am Demo." in answer and "/link" in answer and "/image" in answer


def test_new_starts_a_fresh_conversation(say, client, telegram, fake_telegram):
    say("First conversation starts here")
    say("Still the first conversation")
    assert Conversation.objects.count() == 1
    assert "new conversation" in say("/new")
    say("This one is the second conversation")
    assert Conversation.objects.count() == 2
    newest = Conversation.objects.order_by("-created_at").first()
    assert newest.messages.filter(role=Message.Role.USER).count() == 1


def test_bots_and_bot_follow_the_role(say, client, telegram, fake_telegram, demo_bot):
    BotFactory(slug="poet", name="Poet", description="Writes verse")
    # A guest may use the default bot only.
    answer = say("/bots")
    assert "demo" in answer and "poet" not in answer
    assert "no bot poet" in say("/bot poet")

    user = UserFactory()
    code = link_code_create(user=user)[1]
    say(f"/link {code}")
    answer = say("/bots")
    assert "poet" in answer and "Writes verse" in answer
    assert "now talking to Poet" in say("/bot poet")
    say("Hello poet, write something")
    conversation = Conversation.objects.get(owner=user, bot__slug="poet")
    assert conversation.channel == "telegram"
    assert "Which bot?" in say("/bot")


def test_lang_shows_and_sets_the_conversation_language(say, client, telegram, fake_telegram):
    assert "Start a conversation first" in say("/lang de")
    say("Bonjour, comment allez-vous aujourd'hui mon ami?")
    assert "French" in say("/lang")
    assert "German" in say("/lang de")
    assert Conversation.objects.get().language == "de"
    assert "do not know the language" in say("/lang xx")


def test_usage_counts_today(say, client, telegram, fake_telegram):
    say("One message to count today")
    answer = say("/usage")
    assert "role guest" in answer and "messages: 1 / 10" in answer


def test_unknown_command_gets_help(say, client, telegram, fake_telegram):
    assert "do not know that command" in say("/frobnicate")


def test_link_makes_the_guest_the_chatlab_user(say, client, telegram, fake_telegram):
    # The guest role allows one message a day here; the user role many.
    RolePolicy.objects.filter(role="guest").update(messages_per_day=1)
    say("Hello as a guest first")
    guest = MessengerIdentity.objects.get().user
    assert guest.is_guest
    assert "used all 1 message" in say("A second message is over the quota")

    user = UserFactory()
    code = link_code_create(user=user)[1]
    assert user.email in say(f"/link {code.lower()}")
    identity = MessengerIdentity.objects.get()
    assert identity.user == user and identity.linked_at is not None
    assert not User.objects.filter(pk=guest.pk).exists()
    # The guest's conversation is the user's now, and their quota applies.
    assert Conversation.objects.get().owner == user
    say("Now I am myself, hello again")
    reply = Message.objects.filter(role=Message.Role.ASSISTANT).order_by("created_at").last()
    assert reply.conversation.owner == user and reply.status == Message.Status.COMPLETE
    assert "role user" in say("/usage")
    # The conversation shows on the web for them.
    client.force_login(user)
    page = client.get("/")
    assert "Hello as a guest first" in page.content.decode()


def test_link_codes_are_single_use_and_expire(say, client, telegram, fake_telegram):
    user = UserFactory()
    code = link_code_create(user=user)[1]
    assert "wrong or has expired" in say("/link NOPE-NOPE")
    say(f"/link {code}")
    assert "wrong or has expired" in say(f"/link {code}", user_id=777)
    stale = link_code_create(user=user)[1]
    LinkCode.objects.filter(used_at__isnull=True).update(
        expires_at=timezone.now() - timedelta(seconds=1))
    assert "wrong or has expired" in say(f"/link {stale}", user_id=778)
    assert "Send /link CODE" in say("/link")


@pytest.fixture
def pictures(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    # The data migration's demo model is there unless an earlier test flushed the tables.
    model, _ = ImageModel.objects.update_or_create(
        slug="demo", defaults={"name": "Demo pictures", "model": "demo", "provider": None,
                               "is_default": True, "is_active": True})
    return model


def test_image_refused_for_a_guest(say, client, telegram, fake_telegram, pictures):
    assert "Sign up to make images" in say("/image a red fox")
    assert not ImageJob.objects.exists()


def test_image_for_a_linked_user_sends_the_picture(say, telegram, fake_telegram, pictures):
    user = UserFactory()
    say(f"/link {link_code_create(user=user)[1]}")
    assert "Drawing it" in say("/image a red fox in the snow")
    fake_telegram.wait_for(lambda fake: fake.calls_of("sendPhoto"))
    job = ImageJob.objects.get()
    assert job.owner == user and job.channel == "telegram" and job.status == "done"
    (photo,) = fake_telegram.calls_of("sendPhoto")
    assert photo.params["chat_id"] == 4242 and "red fox" in photo.params["caption"]
    picture = Image.open(io.BytesIO(photo.files["photo"]))
    assert picture.size == (job.images.get().width, job.images.get().height)
