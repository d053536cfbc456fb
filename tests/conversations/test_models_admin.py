"""The bot admin: capabilities filled from the model name, and Fetch models."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission

from conversations.models import Bot
from tests.factories import BotFactory, ProviderFactory, UserFactory

pytestmark = pytest.mark.django_db
ADD_URL = "/admin/conversations/bot/add/"
FETCH_URL = "/admin/conversations/bot/fetch-models/"
SECRET = "sk-test-secret-key"


def posted(data: dict) -> dict:
    return {k: v for k, v in data.items() if v is not None}  # None: a checkbox left clear


def form(provider, model: str, **extra) -> dict:
    data = {f"name_{settings.MODELTRANSLATION_DEFAULT_LANGUAGE}": "Thinker", "slug": "thinker",
            "provider": provider.pk, "model": model, "temperature": 0.7,
            "max_output_tokens": 1024, "context_window": 8192, "position": 0,
            "is_active": "on", "accepts_temperature": "on", "output_limit_param": "",
            "reasoning_effort": ""}
    data.update(extra)
    return posted(data)


@pytest.fixture
def openai_provider(fake_openai):
    return ProviderFactory(name="Fake", kind="openai", base_url=fake_openai.url, api_key=SECRET)


def test_a_new_bot_gets_the_capabilities_and_window_of_its_model(admin_client, openai_provider):
    response = admin_client.post(ADD_URL, form(openai_provider, "gpt-5-mini"))
    assert response.status_code == 302, response.content.decode()[:2000]
    bot = Bot.objects.get(slug="thinker")
    assert (bot.output_limit_param, bot.accepts_temperature, bot.reasoning_effort,
            bot.context_window, bot.vision) == ("max_completion_tokens", False, "medium",
                                                400_000, True)


def test_what_the_admin_sets_in_the_same_form_stands(admin_client, openai_provider):
    admin_client.post(ADD_URL, form(openai_provider, "o3", reasoning_effort="high",
                                    context_window=100_000))
    bot = Bot.objects.get(slug="thinker")
    assert (bot.reasoning_effort, bot.context_window, bot.accepts_temperature) == (
        "high", 100_000, False)


def test_a_new_model_name_refills_and_the_checkbox_resets(admin_client, openai_provider):
    bot = BotFactory(provider=openai_provider, model="llama3.2", slug="thinker")
    url = f"/admin/conversations/bot/{bot.pk}/change/"
    current = form(openai_provider, "llama3.2", output_limit_param="max_tokens")
    # An unrelated edit keeps the stored capabilities (a correction, say).
    Bot.objects.filter(pk=bot.pk).update(accepts_temperature=False)
    admin_client.post(url, posted({**current, "accepts_temperature": None, "temperature": 0.5}))
    bot.refresh_from_db()
    assert not bot.accepts_temperature and bot.output_limit_param == "max_tokens"
    # Another model: what it accepts follows.
    response = admin_client.post(url, posted({**current, "accepts_temperature": None,
                                              "model": "o4-mini"}))
    assert response.status_code == 302
    bot.refresh_from_db()
    assert (bot.output_limit_param, bot.reasoning_effort, bot.context_window) == (
        "max_completion_tokens", "medium", 200_000)
    # Edited by hand, then reset from the model name.
    admin_client.post(url, posted({**current, "model": "o4-mini", "reasoning_effort": "low",
                                   "context_window": 9000, "accepts_temperature": None}))
    bot.refresh_from_db()
    assert bot.reasoning_effort == "low"  # the model did not change: the edit stands
    admin_client.post(url, {**current, "model": "o4-mini", "fill_capabilities": "on"})
    bot.refresh_from_db()
    assert (bot.reasoning_effort, bot.context_window, bot.accepts_temperature) == (
        "medium", 200_000, False)


def test_fetch_models_lists_the_providers_models_with_prefilled_add_links(
        admin_client, openai_provider, fake_openai):
    page = admin_client.get(FETCH_URL, {"provider": openai_provider.pk})
    html = page.content.decode()
    assert page.status_code == 200 and "gpt-5-mini" in html and "deepseek-r1" in html
    assert SECRET not in html
    queries = [parse_qs(urlsplit(url).query, keep_blank_values=True)
               for _choice, url in page.context["choices"]]
    links = {query["model"][0]: query for query in queries}
    gpt5 = links["gpt-5-mini"]
    assert gpt5["output_limit_param"] == ["max_completion_tokens"]
    assert gpt5["context_window"] == ["400000"] and gpt5["reasoning_effort"] == ["medium"]
    assert gpt5["accepts_temperature"] == [""]  # cleared
    assert "context_window" not in links["deepseek-r1"]  # not known: the form's default stays
    # The link opens the add form with those values in place.
    add = admin_client.get(ADD_URL + "?" + urlsplit(
        next(url for c, url in page.context["choices"] if c.id == "gpt-5-mini")).query)
    fields = add.context["adminform"].form
    assert fields["model"].value() == "gpt-5-mini"
    assert str(fields["context_window"].value()) == "400000"
    assert not fields["accepts_temperature"].value()
    assert fake_openai.requests == []


def test_the_changelist_offers_fetch_models(admin_client):
    assert FETCH_URL in admin_client.get("/admin/conversations/bot/").content.decode()


def test_a_provider_error_is_shown_readably_without_the_key(admin_client, fake_openai):
    unreachable = ProviderFactory(name="Gone", kind="openai", base_url="http://127.0.0.1:9/v1",
                                  api_key=SECRET)
    html = admin_client.get(FETCH_URL, {"provider": unreachable.pk}).content.decode()
    assert "Could not reach the model provider." in html and SECRET not in html


def test_fetch_models_is_for_admins_who_may_add_bots(client, openai_provider):
    assert client.get(FETCH_URL).status_code == 302  # to the admin login
    staff = UserFactory(is_staff=True)
    client.force_login(staff)
    assert client.get(FETCH_URL, {"provider": openai_provider.pk}).status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="add_bot"))
    assert client.get(FETCH_URL, {"provider": openai_provider.pk}).status_code == 200
