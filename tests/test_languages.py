"""The interface language: Accept-Language for visitors, the saved choice for people, the
switcher, the JavaScript catalog, the socket's errors, translated bots and the fallbacks."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command
from django.test import Client
from django.utils import translation

from accounts.models import RolePolicy, User
from conversations.models import Bot
from conversations.services.context import build_request, language_instruction
from conversations.services.messages import (
    NewConversationSend,
    message_send,
    new_conversations_send,
)
from conversations.services.payloads import bot_payload
from tests.factories import BotFactory, UserFactory
from tests.test_consumer import connect
from tests.test_language_detection import SENTENCES

RU_NEW_CHAT = "Новый чат"
DE_NEW_CHAT = "Neuer Chat"
FR_NEW_CHAT = "Nouvelle discussion"


@pytest.fixture(autouse=True)
def _english_afterwards():
    # The test client leaves the last request's language active on this thread: later tests
    # in the same worker expect the default.
    yield
    translation.activate("en")


@pytest.mark.django_db
def test_a_visitor_gets_the_language_their_browser_asks_for(client: Client, demo_bot) -> None:
    page = client.get("/", HTTP_ACCEPT_LANGUAGE="de-AT,de;q=0.9,en;q=0.5")
    assert page.status_code == 200
    text = page.content.decode()
    assert '<html lang="de"' in text and DE_NEW_CHAT in text
    assert page.headers["Content-Language"] == "de"
    # Chinese by its browser tag.
    page = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9")
    assert '<html lang="zh-hans"' in page.content.decode()
    # A language the site does not have: the default, English.
    page = client.get("/", HTTP_ACCEPT_LANGUAGE="pt-BR")
    assert '<html lang="en"' in page.content.decode() and "New chat" in page.content.decode()


@pytest.mark.django_db
def test_the_switcher_sets_a_visitors_language_without_javascript(client: Client, demo_bot) -> None:
    page = client.get("/", HTTP_ACCEPT_LANGUAGE="de")
    assert 'action="/i18n/setlang/"' in page.content.decode()
    # Every language under its own name, whatever the page's language.
    for name in (">English<", ">Русский<", ">Deutsch<", ">Español<", ">Français<", ">简体中文<"):
        assert name in page.content.decode()
    answer = client.post("/i18n/setlang/", {"language": "ru", "next": "/archive/"},
                         HTTP_ACCEPT_LANGUAGE="de")
    assert answer.status_code == 302 and answer["Location"] == "/archive/"
    page = client.get("/", HTTP_ACCEPT_LANGUAGE="de")
    assert RU_NEW_CHAT in page.content.decode()
    # Another site as "next", an unknown language: no harm done, no error.
    answer = client.post("/i18n/setlang/", {"language": "xx", "next": "https://evil.example/"})
    assert answer.status_code == 302 and "evil" not in answer["Location"]
    assert RU_NEW_CHAT in client.get("/").content.decode()
    assert client.get("/i18n/setlang/").status_code == 405


@pytest.mark.django_db
def test_the_saved_choice_wins_for_a_signed_in_person(client: Client, user, demo_bot) -> None:
    User.objects.filter(pk=user.pk).update(language="fr")
    client.force_login(user)
    client.cookies["django_language"] = "es"
    page = client.get("/", HTTP_ACCEPT_LANGUAGE="ru")
    assert '<html lang="fr"' in page.content.decode() and FR_NEW_CHAT in page.content.decode()
    # The cookie follows the account, so the login page after a logout speaks French too.
    assert page.cookies["django_language"].value == "fr"
    client.post("/accounts/logout/")
    page = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="ru")
    assert '<html lang="fr"' in page.content.decode()


@pytest.mark.django_db
def test_switching_saves_the_choice_on_the_profile(client: Client, user, demo_bot) -> None:
    client.force_login(user)
    answer = client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/accounts/profile/"})
    assert answer.status_code == 302
    user.refresh_from_db()
    assert user.language == "zh-hans"
    # A fresh browser (no cookie) that logs in gets it back.
    other = Client()
    other.force_login(user)
    assert '<html lang="zh-hans"' in other.get("/", HTTP_ACCEPT_LANGUAGE="de").content.decode()


@pytest.mark.django_db
def test_a_language_picked_before_logging_in_is_kept_on_the_account(client: Client) -> None:
    user = UserFactory()
    client.post("/i18n/setlang/", {"language": "es", "next": "/"})
    answer = client.post("/accounts/login/", {"login": user.email, "password": "correct horse battery"})
    assert answer.status_code == 302
    user.refresh_from_db()
    assert user.language == "es"
    # Someone who already chose keeps their choice.
    User.objects.filter(pk=user.pk).update(language="de")
    second = Client()
    second.post("/i18n/setlang/", {"language": "fr", "next": "/"})
    second.post("/accounts/login/", {"login": user.email, "password": "correct horse battery"})
    user.refresh_from_db()
    assert user.language == "de"


@pytest.mark.django_db
def test_a_visitor_costs_no_extra_query(client: Client, django_assert_num_queries) -> None:
    client.get("/healthz")
    with django_assert_num_queries(0):
        page = client.get("/jsi18n/", HTTP_ACCEPT_LANGUAGE="ru")
    assert page.status_code == 200


@pytest.mark.django_db
def test_the_javascript_catalog_serves_the_chat_strings(client: Client, demo_bot) -> None:
    script = client.get("/jsi18n/", HTTP_ACCEPT_LANGUAGE="ru").content.decode()
    assert "Thinking\\u2026" in script or "Thinking…" in script
    assert ("Думаю…" in script) or ("\\u0414\\u0443\\u043c\\u0430\\u044e" in script.lower())
    english = client.get("/jsi18n/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "function gettext" in english or "django.gettext" in english
    # The chat page loads it before its own scripts.
    page = client.get("/").content.decode()
    assert page.index('src="/jsi18n/"') < page.index("chat/chat.js") < page.index("chat/images.js")


@pytest.mark.django_db
def test_error_pages_are_translated(client: Client) -> None:
    page = client.get("/no/such/page/", HTTP_ACCEPT_LANGUAGE="ru")
    assert page.status_code == 404 and "Страница не найдена" in page.content.decode()


@pytest.mark.django_db(transaction=True)
async def test_the_socket_answers_in_the_persons_language(demo_bot) -> None:
    user = await sync_to_async(UserFactory)(language="de")
    comm = await connect(user)
    assert (await comm.connect())[0]
    await comm.send_json_to({"type": "send", "content": "   "})
    error = await comm.receive_json_from()
    assert error["code"] == "empty" and error["message"] == "Schreiben Sie zuerst etwas."
    await comm.send_to(text_data="{not json")
    assert (await comm.receive_json_from())["message"] == "Frames müssen JSON-Objekte sein."
    await comm.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_quota_refusal_on_the_socket_is_in_the_persons_language(demo_bot) -> None:
    user = await sync_to_async(UserFactory)(language="ru")
    await sync_to_async(RolePolicy.objects.filter(role="user").update)(messages_per_day=0)
    comm = await connect(user)
    assert (await comm.connect())[0]
    # A first message goes through the shared batch store (another task, another context).
    await comm.send_json_to({"type": "send", "content": "hello there", "client_id": None})
    error = await comm.receive_json_from()
    assert error["code"] == "quota"
    assert error["message"].startswith("Вы использовали все") and "UTC" in error["message"]
    await comm.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_visitors_socket_follows_their_browser(demo_bot) -> None:
    comm = await connect(None)
    comm.scope["headers"].append((b"accept-language", b"es-ES,es;q=0.9"))
    assert (await comm.connect())[0]
    await comm.send_json_to({"type": "launch"})
    error = await comm.receive_json_from()
    assert error["message"] == "Tipo de trama desconocido 'launch'."
    await comm.disconnect()


# Replies and detection ---------------------------------------------------------------------------

@pytest.mark.django_db
def test_the_preferred_language_is_the_fallback_after_the_conversations(user, demo_bot) -> None:
    User.objects.filter(pk=user.pk).update(language="ru")
    user.refresh_from_db()
    sent = message_send(user=user, content="👍")
    assert sent.user_message.language == "ru" and sent.conversation.language == "ru"
    request = build_request(sent.reply)
    assert request.language == "ru" and request.messages[1]["content"] == language_instruction("ru")
    # The conversation's own language comes first once it has one.
    from conversations.models import Message

    Message.objects.filter(pk=sent.reply.pk).update(status=Message.Status.COMPLETE)
    german = message_send(user=user, content=SENTENCES["de"], conversation_id=sent.conversation.pk)
    Message.objects.filter(pk=german.reply.pk).update(status=Message.Status.COMPLETE)
    short = message_send(user=user, content="ok", conversation_id=sent.conversation.pk)
    assert short.user_message.language == "de"
    # Batched first messages use it too.
    [batched] = new_conversations_send([NewConversationSend(user=user, content="🙂")])
    assert batched.conversation.language == "ru"


@pytest.mark.django_db
def test_the_model_gets_the_bots_prompt_in_the_reply_language(user) -> None:
    bot = BotFactory(slug="polyglot", system_prompt="Be brief.", is_default=True)
    Bot.objects.filter(pk=bot.pk).update(system_prompt_ru="Отвечай кратко.",
                                         system_prompt_zh_hans="请简短回答。")
    russian = message_send(user=user, content=SENTENCES["ru"], bot_slug="polyglot")
    assert build_request(russian.reply).messages[0]["content"] == "Отвечай кратко."
    chinese = message_send(user=user, content=SENTENCES["zh"], bot_slug="polyglot")
    assert build_request(chinese.reply).messages[0]["content"] == "请简短回答。"
    # No German prompt, and Italian is no interface language: the default language's prompt.
    for code in ("de", "it"):
        sent = message_send(user=user, content=SENTENCES[code], bot_slug="polyglot")
        assert build_request(sent.reply).messages[0]["content"] == "Be brief."
    # Whatever language the page is in.
    with translation.override("ru"):
        sent = message_send(user=user, content=SENTENCES["es"], bot_slug="polyglot")
        assert build_request(sent.reply).messages[0]["content"] == "Be brief."


# Translated bots ---------------------------------------------------------------------------------

@pytest.mark.django_db
def test_bot_texts_fall_back_to_the_default_language(client: Client, user) -> None:
    bot = BotFactory(slug="helper", name="Helper", description="Helps.", is_default=True)
    Bot.objects.filter(pk=bot.pk).update(name_ru="Помощник", welcome_en="Ask me anything.",
                                         welcome_ru="")
    bot.refresh_from_db()
    with translation.override("ru"):
        assert bot_payload(bot) == {"slug": "helper", "name": "Помощник", "description": "Helps.",
                                    "welcome": "Ask me anything."}
    with translation.override("fr"):
        assert bot.name == "Helper"
    client.force_login(user)
    page = client.get("/", HTTP_ACCEPT_LANGUAGE="ru").content.decode()
    assert "Помощник" in page and "Ask me anything." in page
    api = client.get("/api/v1/bots/", HTTP_ACCEPT_LANGUAGE="ru")
    assert api.status_code == 200


@pytest.mark.django_db
def test_the_plain_columns_keep_the_default_language(demo_bot) -> None:
    """Whatever language an admin saves in, Bot.name's own column (read by analytics without
    modeltranslation) holds the default language's name."""
    with translation.override("ru"):
        bot = Bot.objects.get(pk=demo_bot.pk)
        bot.name_ru = "Демо"
        bot.save()
        assert bot.name == "Демо"
    assert Bot.objects.filter(pk=demo_bot.pk).rewrite(False).values_list("name", flat=True).get() == "Demo"


@pytest.mark.django_db
def test_seeded_bots_speak_every_language(settings) -> None:
    settings.OPENAI_API_KEY = "sk-seed"
    call_command("seed_bots", verbosity=0)
    call_command("seed_bots", verbosity=0)  # idempotent
    demo = Bot.objects.get(slug="demo")
    assert Bot.objects.filter(slug="demo").count() == 1
    with translation.override("ru"):
        assert Bot.objects.get(slug="demo").name == "Демо-бот"
    with translation.override("zh-hans"):
        assert "离线" in Bot.objects.get(slug="demo").description
    assert demo.name_en == "Demo bot" and demo.welcome_de
    assistant = Bot.objects.get(slug="assistant")
    assert assistant.system_prompt_fr.startswith("Tu es")


@pytest.mark.django_db
def test_the_admin_edits_every_language_side_by_side(client: Client, demo_bot) -> None:
    admin = User.objects.create_superuser("root@example.com", "pw-for-the-admin-42")
    client.force_login(admin)
    page = client.get(f"/admin/conversations/bot/{demo_bot.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    for field in ("name_en", "name_ru", "system_prompt_zh_hans", "welcome_fr", "description_de"):
        assert f'name="{field}"' in html
    data = {
        "name_en": "Demo", "name_ru": "Демо", "slug": "demo", "description_en": "",
        "is_active": "on", "is_default": "on", "position": "0", "provider": demo_bot.provider_id,
        "model": "demo", "system_prompt_en": "Hi.", "system_prompt_ru": "Привет.",
        "welcome_en": "Welcome!", "temperature": "0.7", "max_output_tokens": "1024",
        "context_window": "8192",
    }
    answer = client.post(f"/admin/conversations/bot/{demo_bot.pk}/change/", data)
    assert answer.status_code == 302, answer.content.decode()[:2000]
    demo_bot.refresh_from_db()
    assert (demo_bot.name_ru, demo_bot.system_prompt_ru, demo_bot.welcome_en) == (
        "Демо", "Привет.", "Welcome!")
    assert client.get("/admin/conversations/bot/?q=Демо").status_code == 200


@pytest.mark.django_db(transaction=True)
async def test_the_saved_choice_wins_under_asgi_too(demo_bot) -> None:
    """The async middleware path (daphne): the same choice, the user read once."""
    from django.test import AsyncClient

    user = await sync_to_async(UserFactory)(language="es")
    client = AsyncClient()
    await client.aforce_login(user)
    page = await client.get("/", headers={"accept-language": "ru"})
    assert page.status_code == 200
    assert '<html lang="es"' in page.content.decode() and "Nuevo chat" in page.content.decode()
    assert page.cookies["django_language"].value == "es"
    visitor = await AsyncClient().get("/accounts/login/", headers={"accept-language": "fr"})
    assert '<html lang="fr"' in visitor.content.decode()
