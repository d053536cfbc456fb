"""The interface in Russian, in a real browser: the switcher (a plain form post), the chat page
and its scripts' strings, the account pages, and error messages (a quota refusal over the
socket, a bad login)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser_support import (
    HOME_URL, PASSWORD, Site, chromium, log_in, new_context, on_playwright_thread,
    playwright_test, send, wait_socket, wait_status,
)
from tests.conftest import require
from tests.fakes.openai_server import FakeOpenAI
from tests.stack import chromium_path, postgres_available, stack

pytestmark = pytest.mark.browser

SETUP = """
from accounts.models import RolePolicy, User
User.objects.create_user({email!r}, {password!r})
# One message a day: the second one is refused.
RolePolicy.objects.filter(role="user").update(messages_per_day=1)
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    require(chromium_path() is not None, "the browser tests need Chromium at /usr/bin/chromium")
    email = f"polyglot-{uuid.uuid4().hex[:8]}@example.com"
    with FakeOpenAI() as fake, stack(
        tmp_path_factory.mktemp("browser-languages"), postgres=postgres_available(), redis=False,
        CHATLAB_DEMO_TOKENS_PER_SECOND="0",
    ) as s:
        s.shell(SETUP.format(email=email, password=PASSWORD))
        url = s.daphne()
        yield Site(stack=s, url=url, fake=fake, email=email)


def _remember_login(site: Site, browser: Browser) -> None:
    context = new_context(browser, site, logged_in=False, locale="en-US")
    log_in(context.new_page(), site.email)
    site.storage_state = context.storage_state()
    context.close()


@pytest.fixture(scope="module")
def browser(site: Site) -> Iterator[Browser]:
    with chromium(lambda browser: _remember_login(site, browser)) as browser:
        yield browser


@pytest.fixture
def open_context(browser: Browser, site: Site) -> Iterator[object]:
    site.console_errors.clear()
    contexts = []

    def make(**options: object):
        context = new_context(browser, site, **options)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        on_playwright_thread(context.close)
    assert site.console_errors == []


def switch_to_russian(page: Page, select: str) -> None:
    page.select_option(select, "ru")
    page.locator(select).locator("xpath=ancestor::form").get_by_role("button").click()
    expect(page.locator("html")).to_have_attribute("lang", "ru")


@playwright_test
def test_the_switcher_turns_the_chat_and_account_pages_russian(open_context, site: Site) -> None:
    page = open_context(locale="en-US")
    page.goto("/")
    wait_socket(page)
    expect(page.locator("#chat-title")).to_have_text("New chat")
    switch_to_russian(page, "#language-select-sidebar")
    page.wait_for_url(HOME_URL)
    wait_socket(page)
    # The page's own text, then the scripts' strings from the JavaScript catalog.
    expect(page.locator("#chat-title")).to_have_text("Новый чат")
    expect(page.locator("#send")).to_have_text("Отправить")
    expect(page.locator("#prompt")).to_have_attribute("placeholder", "Напишите сообщение…")
    send(page, "Привет! Расскажи, пожалуйста, как у тебя сегодня дела?")
    reply = wait_status(page, "complete")
    expect(reply).to_contain_text("Демонстрационный ответ")
    expect(reply.get_by_role("button", name="Ответить заново")).to_be_visible()
    # The quota refusal comes over the socket, in the person's language.
    send(page, "Ещё один вопрос, последний на сегодня, честное слово.")
    error = page.locator("#composer-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("Вы использовали все")
    # The choice is on the account: the account pages speak Russian too.
    page.goto("/accounts/profile/")
    expect(page.locator("h1")).to_have_text("Ваш аккаунт")
    expect(page.locator("#usage")).to_contain_text("Сообщения")
    expect(page.locator("#role")).to_have_text("пользователь")
    page.goto("/accounts/password/change/")
    expect(page.locator("html")).to_have_attribute("lang", "ru")
    expect(page.get_by_role("heading", name="Изменить пароль")).to_be_visible()
    expect(page.locator(".account-nav")).to_contain_text("Назад в чат")


@playwright_test
def test_a_visitor_switches_on_the_login_page_and_reads_the_error_in_russian(
    open_context, site: Site
) -> None:
    page = open_context(logged_in=False, locale="en-US")
    page.goto("/accounts/login/")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    switch_to_russian(page, "#language-select-page")
    page.wait_for_url("**/accounts/login/")
    page.fill("input[name=login]", site.email)
    page.fill("input[name=password]", "not the password")
    page.locator("form button[type=submit]").first.click()
    expect(page.get_by_text("Указанные вами адрес электронной почты и/или пароль неверны.")).to_be_visible()
    # A browser that asks for German gets German until someone chooses.
    german = open_context(logged_in=False, locale="de-DE")
    german.goto("/accounts/login/")
    expect(german.locator("html")).to_have_attribute("lang", "de")
