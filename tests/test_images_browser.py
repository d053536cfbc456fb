"""Images in a real browser: /image in the chat, the picture appearing as the job finishes,
full size, download, the image button, the conversation reloaded, and the gallery's delete."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser_support import (
    CONVERSATION_URL, PASSWORD, Site, chromium, log_in, new_context, on_playwright_thread,
    open_chat, playwright_test, wait_until,
)
from tests.conftest import require
from tests.fakes.openai_server import FakeOpenAI
from tests.stack import chromium_path, postgres_available, stack

pytestmark = pytest.mark.browser

SETUP = """
from accounts.models import User
User.objects.create_user({email!r}, {password!r})
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    require(chromium_path() is not None, "the browser tests need Chromium at /usr/bin/chromium")
    email = f"painter-{uuid.uuid4().hex[:8]}@example.com"
    with FakeOpenAI() as fake, stack(tmp_path_factory.mktemp("images-browser"),
                                     postgres=postgres_available(), redis=False) as s:
        s.shell(SETUP.format(email=email, password=PASSWORD))
        yield Site(stack=s, url=s.daphne(), fake=fake, email=email)


@pytest.fixture(scope="module")
def browser(site: Site) -> Iterator[Browser]:
    def remember_login(browser: Browser) -> None:
        context = new_context(browser, site, logged_in=False)
        log_in(context.new_page(), site.email)
        site.storage_state = context.storage_state()
        context.close()

    with chromium(remember_login) as browser:
        yield browser


@pytest.fixture
def page(browser: Browser, site: Site) -> Iterator[Page]:
    site.console_errors.clear()
    context = on_playwright_thread(new_context, browser, site)
    page = on_playwright_thread(context.new_page)
    yield page
    on_playwright_thread(context.close)
    assert site.console_errors == []


def loaded(page: Page, selector: str) -> None:
    wait_until(
        page, "s => { const i = document.querySelector(s); return i && i.complete && i.naturalWidth > 0; }",
        selector)


@playwright_test
def test_ask_for_an_image_in_the_chat_and_see_it(page: Page, site: Site) -> None:
    open_chat(page)
    page.fill("#prompt", "/image a red kite over a grey sea")
    page.press("#prompt", "Enter")
    job = page.locator("#messages article.image-job").last
    expect(job.locator(".image-prompt")).to_have_text("a red kite over a grey sea")
    expect(job).to_have_attribute("data-status", "done")
    page.wait_for_url(CONVERSATION_URL)
    expect(page.locator("#prompt")).to_have_value("")
    loaded(page, "article.image-job .image-tile img")

    # Full size in a dialog, with a download link that downloads.
    job.locator(".image-open").first.click()
    dialog = page.locator("dialog.image-dialog")
    expect(dialog).to_be_visible()
    loaded(page, "dialog.image-dialog img")
    assert page.evaluate("document.querySelector('dialog.image-dialog img').naturalWidth") == 512
    href = dialog.locator("a.image-download").get_attribute("href")
    answer = page.request.get(href)
    assert answer.status == 200 and "attachment" in answer.headers["content-disposition"]
    assert answer.body()[:8] == b"\x89PNG\r\n\x1a\n"
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    # The button makes an image of what is in the box, in the same conversation.
    page.fill("#prompt", "a blue door in a white wall")
    page.click("#image-button")
    expect(page.locator("#messages article.image-job")).to_have_count(2)
    expect(page.locator("#messages article.image-job").last).to_have_attribute("data-status", "done")

    # Both are part of the conversation when it is opened again.
    page.reload()
    expect(page.locator("#messages article.image-job[data-status=done]")).to_have_count(2)
    loaded(page, "article.image-job:last-of-type .image-tile img")

    # The gallery lists them; delete one.
    page.goto("/images/")
    expect(page.locator("#gallery li")).to_have_count(2)
    page.locator("#gallery li", has_text="a blue door").get_by_role("button", name="Delete this image").click()
    expect(page.locator("#gallery li")).to_have_count(1)
    expect(page.locator("#gallery li")).to_contain_text("a red kite")


@playwright_test
def test_an_empty_image_command_says_what_to_do(page: Page, site: Site) -> None:
    open_chat(page)
    page.fill("#prompt", "/image")
    page.press("#prompt", "Enter")
    expect(page.locator("#composer-error")).to_have_text("Describe the image after /image.")
    expect(page.locator("#messages article")).to_have_count(0)
