"""The history pages in a real browser (Chromium through Playwright): search with highlighted
results, delete to the trash and restore from it, and an import with its outcome shown."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser_support import (
    CONVERSATION_URL, HOME_URL, PASSWORD, Site, chromium, log_in, new_context,
    on_playwright_thread, playwright_test, wait_socket,
)
from tests.conftest import require
from tests.fakes.openai_server import FakeOpenAI
from tests.stack import chromium_path, postgres_available, stack
from tests.test_history_io import chatgpt_sample

pytestmark = pytest.mark.browser

SETUP = """
from accounts.models import User
from conversations.models import Bot, Conversation, Message
user = User.objects.create_user({email!r}, {password!r})
bot = Bot.objects.get(slug="demo")
c = Conversation.objects.create(owner=user, bot=bot, title="Garden plans")
q = Message.objects.create(conversation=c, role="user",
                           content="When do I plant tomatoes? <script>window.pwned=1</script>")
Message.objects.create(conversation=c, role="assistant", reply_to=q, content="After the frost.")
Conversation.objects.create(owner=user, bot=bot, title="Tax questions")
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    require(chromium_path() is not None, "the browser tests need Chromium at /usr/bin/chromium")
    email = f"keeper-{uuid.uuid4().hex[:8]}@example.com"
    with FakeOpenAI() as fake, stack(
        tmp_path_factory.mktemp("browser-history"), postgres=postgres_available(), redis=False,
        CHATLAB_DEMO_TOKENS_PER_SECOND="0",
    ) as s:
        s.shell(SETUP.format(email=email, password=PASSWORD))
        url = s.daphne()
        yield Site(stack=s, url=url, fake=fake, email=email)


def _remember_login(site: Site, browser: Browser) -> None:
    context = new_context(browser, site, logged_in=False)
    log_in(context.new_page(), site.email)
    site.storage_state = context.storage_state()
    context.close()


@pytest.fixture(scope="module")
def browser(site: Site) -> Iterator[Browser]:
    with chromium(lambda browser: _remember_login(site, browser)) as browser:
        yield browser


@pytest.fixture
def page(browser: Browser, site: Site) -> Iterator[Page]:
    site.console_errors.clear()
    context = on_playwright_thread(new_context, browser, site)
    page = on_playwright_thread(context.new_page)
    yield page
    on_playwright_thread(context.close)
    assert site.console_errors == []


@playwright_test
def test_search_from_the_sidebar_shows_highlighted_results(page: Page, site: Site) -> None:
    page.goto("/")
    wait_socket(page)
    page.fill("#sidebar-q", "tomatoes")
    page.press("#sidebar-q", "Enter")
    page.wait_for_url("**/search/?q=tomatoes")
    result = page.locator("#search-results li")
    expect(result).to_have_count(1)
    expect(result.locator(".result-title")).to_have_text("Garden plans")
    expect(result.locator(".snippet mark").first).to_have_text("tomatoes")
    assert page.evaluate("window.pwned") is None  # the message's markup stayed text
    result.locator(".result-title").click()
    page.wait_for_url(CONVERSATION_URL)
    expect(page.locator("#messages article.message.assistant")).to_contain_text("After the frost.")
    page.goto("/search/?q=nothing-matches-this")
    expect(page.locator("#no-results")).to_be_visible()


@playwright_test
def test_delete_to_the_trash_and_restore(page: Page, site: Site) -> None:
    page.goto("/")
    wait_socket(page)
    page.locator("#conversation-list a", has_text="Tax questions").click()
    page.wait_for_url(CONVERSATION_URL)
    page.locator("#conversation-menu summary").click()
    page.locator("#delete-button").click()
    page.wait_for_url(HOME_URL)
    expect(page.locator("#conversation-list a", has_text="Tax questions")).to_have_count(0)
    page.locator("#trash-link").click()
    row = page.locator("#trash tr", has_text="Tax questions")
    expect(row).to_have_count(1)
    row.get_by_role("button", name="Restore").click()
    expect(page.locator(".flash")).to_contain_text("is back")
    expect(page.locator("#trash-empty")).to_be_visible()
    page.goto("/")
    expect(page.locator("#conversation-list a", has_text="Tax questions")).to_have_count(1)


@playwright_test
def test_import_shows_the_outcome_and_the_conversations_appear(page: Page, site: Site,
                                                                tmp_path: Path) -> None:
    sample = tmp_path / "conversations.json"
    sample.write_bytes(chatgpt_sample())
    page.goto("/")
    wait_socket(page)
    page.locator("#import-link").click()
    page.set_input_files("#import-file", str(sample))
    page.locator("#import-form button[type=submit]").click()
    row = page.locator("#imports tbody tr").first
    expect(row).to_have_attribute("data-status", "done")
    expect(row.locator(".outcome")).to_have_text("2 imported, 0 skipped")
    bad = tmp_path / "broken.json"
    bad.write_text('[{"mapping": ')
    page.set_input_files("#import-file", str(bad))
    page.locator("#import-form button[type=submit]").click()
    expect(page.locator("#imports tbody tr").first.locator(".outcome")).to_contain_text(
        "not valid JSON")
    page.goto("/")
    expect(page.locator("#conversation-list a", has_text="Suppe kochen")).to_have_count(1)
    with page.expect_download() as download:
        page.goto("/import/")
        page.locator("#export-json").click()
    assert download.value.suggested_filename == "chatlab-history.json"


@playwright_test
def test_edit_the_last_message_and_see_the_previous_version(page: Page, site: Site) -> None:
    page.goto("/")
    wait_socket(page)
    page.locator("#conversation-list a", has_text="Garden plans").click()
    page.wait_for_url(CONVERSATION_URL)
    wait_socket(page)
    question = page.locator("#messages article.message.user").last
    question.get_by_role("button", name="Edit").click()
    question.locator(".edit-form textarea").fill("When do I plant beans?")
    question.locator(".edit-form button[type=submit]").click()
    expect(page.locator("#messages article.message.user .body").last).to_have_text(
        "When do I plant beans?")
    reply = page.locator("#messages article.message.assistant").last
    expect(reply).to_have_attribute("data-status", "complete")
    expect(reply).to_contain_text("Demo reply")
    # The old reply left the thread; it is kept only inside the new message's previous versions.
    expect(page.locator("#messages article.message.assistant",
                        has_text="After the frost.")).to_have_count(0)
    page.reload()
    wait_socket(page)
    versions = page.locator("#messages article.message.user .versions").last
    versions.locator("summary").click()
    expect(versions).to_contain_text("When do I plant tomatoes?")
    expect(versions.locator(".answer")).to_contain_text("After the frost.")
    answer_versions = page.locator("#messages article.message.assistant .versions")
    expect(answer_versions).to_have_count(0)  # the new question has one reply so far
    assert page.evaluate("window.pwned") is None
