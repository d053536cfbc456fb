"""The chat pages, the admin and the account flows over HTTP."""

from __future__ import annotations

import pytest
from django.core import mail
from django.core.management import call_command

from accounts.models import User
from conversations.models import Bot, Message, Provider
from tests.factories import ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db


def test_the_chat_page_needs_a_login_when_guests_are_off(client, settings):
    settings.CHATLAB_GUEST_CHAT = False
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_the_chat_page_lists_my_conversations_only(logged_in, user, other_user, demo_bot):
    ConversationFactory(owner=user, bot=demo_bot, title="Mine about cats")
    ConversationFactory(owner=other_user, bot=demo_bot, title="Theirs about dogs")
    body = logged_in.get("/").content.decode()
    assert "Mine about cats" in body and "Theirs about dogs" not in body


def test_someone_elses_conversation_is_a_404(logged_in, other_user, demo_bot):
    theirs = ConversationFactory(owner=other_user, bot=demo_bot)
    MessageFactory(conversation=theirs, content="private words")
    response = logged_in.get(f"/c/{theirs.pk}/")
    assert response.status_code == 404 and b"private words" not in response.content


def test_a_conversation_page_shows_its_history(logged_in, user, demo_bot, django_assert_max_num_queries):
    conversation = ConversationFactory(owner=user, bot=demo_bot)
    for i in range(30):
        MessageFactory(conversation=conversation, content=f"line {i}")
    with django_assert_max_num_queries(10):
        response = logged_in.get(f"/c/{conversation.pk}/")
    assert response.status_code == 200
    assert "line 29" in response.content.decode()


def test_query_count_does_not_grow_with_history(logged_in, user, demo_bot, django_assert_num_queries):
    conversation = ConversationFactory(owner=user, bot=demo_bot)
    for _ in range(3):
        ConversationFactory(owner=user, bot=demo_bot)
    MessageFactory(conversation=conversation)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as small:
        logged_in.get(f"/c/{conversation.pk}/")
    for _ in range(50):
        MessageFactory(conversation=conversation)
    for _ in range(20):
        ConversationFactory(owner=user, bot=demo_bot)
    with CaptureQueriesContext(connection) as large:
        logged_in.get(f"/c/{conversation.pk}/")
    assert len(large) == len(small)


def test_sign_up_log_out_and_log_in_by_email(client, demo_bot):
    response = client.post("/accounts/signup/", {
        "email": "New.Person@Example.com", "password1": "a-Long-passphrase-1",
        "password2": "a-Long-passphrase-1",
    })
    assert response.status_code == 302
    user = User.objects.get()
    assert user.email == "new.person@example.com"
    assert any("confirm" in m.subject.lower() for m in mail.outbox)
    assert client.get("/").status_code == 200
    client.post("/accounts/logout/")
    assert b"new.person@example.com" not in client.get("/").content
    response = client.post("/accounts/login/", {"login": "new.person@example.com",
                                                "password": "a-Long-passphrase-1"})
    assert response.status_code == 302
    assert client.get("/").status_code == 200


def test_sign_up_can_be_closed(client, settings):
    settings.ACCOUNT_ALLOW_SIGNUPS = False
    client.post("/accounts/signup/", {"email": "x@example.com", "password1": "a-Long-passphrase-1",
                                      "password2": "a-Long-passphrase-1"})
    assert not User.objects.exists()


def test_the_provider_key_is_encrypted_and_never_shown(admin_client):
    provider = Provider.objects.create(name="OpenAI", kind="openai", api_key="sk-live-abcdef123456")
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key FROM conversations_provider WHERE id = %s", [provider.pk])
        stored = cursor.fetchone()[0]
    assert "sk-live" not in stored and stored.startswith("fernet:")
    assert Provider.objects.get(pk=provider.pk).api_key == "sk-live-abcdef123456"

    page = admin_client.get(f"/admin/conversations/provider/{provider.pk}/change/")
    assert page.status_code == 200 and b"sk-live-abcdef123456" not in page.content
    listing = admin_client.get("/admin/conversations/provider/")
    assert b"sk-live" not in listing.content and b"set" in listing.content

    form = {"name": "OpenAI", "kind": "openai", "base_url": "", "api_key": "", "timeout": "30",
            "max_retries": "2", "is_active": "on"}
    admin_client.post(f"/admin/conversations/provider/{provider.pk}/change/", form)
    provider.refresh_from_db()
    assert provider.api_key == "sk-live-abcdef123456" and provider.timeout == 30
    admin_client.post(f"/admin/conversations/provider/{provider.pk}/change/",
                      {**form, "api_key": "sk-new-key-987"})
    provider.refresh_from_db()
    assert provider.api_key == "sk-new-key-987"


def test_the_admin_pages_load(admin_client, user, demo_bot):
    conversation = ConversationFactory(owner=user, bot=demo_bot)
    message = MessageFactory(conversation=conversation)
    for url in ("/admin/", "/admin/conversations/bot/", f"/admin/conversations/bot/{demo_bot.pk}/change/",
                "/admin/conversations/conversation/", f"/admin/conversations/conversation/{conversation.pk}/change/",
                "/admin/conversations/message/", f"/admin/conversations/message/{message.pk}/change/",
                "/admin/accounts/user/", "/admin/conversations/provider/add/"):
        assert admin_client.get(url).status_code == 200, url


def test_ordinary_users_cannot_reach_the_admin(logged_in):
    assert logged_in.get("/admin/conversations/provider/").status_code == 302


def test_seed_bots_makes_a_demo_bot_once(settings):
    settings.OPENAI_API_KEY = ""
    call_command("seed_bots")
    call_command("seed_bots")
    bot = Bot.objects.get()
    assert bot.slug == "demo" and bot.is_default and bot.provider.kind == "demo"


def test_seed_bots_with_a_key_makes_a_real_default_bot(settings):
    settings.OPENAI_API_KEY = "sk-from-env"
    settings.OPENAI_BASE_URL = "http://localhost:11434/v1"
    settings.OPENAI_MODEL = "llama3.2"
    call_command("seed_bots")
    real = Bot.objects.get(slug="assistant")
    assert real.is_default and real.model == "llama3.2"
    assert real.provider.api_key == "sk-from-env" and real.provider.base_url.endswith("/v1")
    assert Bot.objects.filter(slug="demo", is_default=False).exists()
    # Images go to the same provider's image model, which replaces the demo drawing as default.
    from imaging.models import ImageModel

    images = ImageModel.objects.get(provider=real.provider)
    assert images.model == "gpt-image-1" and images.is_default and not images.is_demo
    assert list(ImageModel.objects.filter(is_default=True)) == [images]
    call_command("seed_bots")  # idempotent
    assert ImageModel.objects.filter(provider=real.provider).count() == 1


def test_seed_bots_leaves_images_alone_without_an_image_model(settings):
    settings.OPENAI_API_KEY = "ollama"
    settings.OPENAI_IMAGE_MODEL = ""
    call_command("seed_bots")
    from imaging.models import ImageModel

    assert list(ImageModel.objects.values_list("slug", "is_default")) == [("demo", True)]


def test_ensure_admin_creates_one_admin_and_prints_how_to_log_in(capsys):
    call_command("ensure_admin")
    out = capsys.readouterr().out
    admin = User.objects.get(is_superuser=True)
    password = out.split("password:")[1].split()[0]
    assert admin.check_password(password) and "admin@localhost" in out
    call_command("ensure_admin")
    assert User.objects.filter(is_superuser=True).count() == 1
    assert "password:" not in capsys.readouterr().out


def test_messages_are_never_lost_when_the_reply_fails(user, demo_bot):
    from conversations.services.messages import message_send

    sent = message_send(user=user, content="important words")
    Message.objects.filter(pk=sent.reply.pk).update(status="failed", error="x")
    assert Message.objects.get(pk=sent.user_message.pk).content == "important words"
