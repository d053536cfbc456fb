"""A reasoning model's thoughts in a real browser (issue #18): a "Thinking…" block opens above
the answer while the model thinks, folds into "Thought for N s" once it answers, and is still
there, folded, after a reload. Its text is shown as text, never as markup."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser_support import (
    Site, checked_page, fake_site, last_reply, open_chat, playwright_test, send,
    signed_in_chromium, wait_status,
)

pytestmark = pytest.mark.browser

SETUP = """
from accounts.models import User
from conversations.models import Bot, Provider
p = Provider.objects.create(name='F', kind='openai', base_url={url!r}, api_key='sk-x',
                            timeout=5, max_retries=1)
Bot.objects.create(name='Thinker', slug='r1', provider=p, model='deepseek-r1', position=1)
User.objects.create_user({email!r}, {password!r})
"""
THOUGHT_FOR = re.compile(r"^Thought for \d+ s$")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with fake_site(tmp_path_factory.mktemp("reasoning-browser"), SETUP, person="thinker") as site:
        yield site


@pytest.fixture(scope="module")
def browser(site: Site) -> Iterator[Browser]:
    with signed_in_chromium(site) as browser:
        yield browser


@pytest.fixture
def page(browser: Browser, site: Site) -> Iterator[Page]:
    with checked_page(browser, site) as page:
        yield page


@playwright_test
def test_the_thinking_block_is_live_then_folded_and_kept_after_reload(
    page: Page, site: Site
) -> None:
    # 7 thoughts, then 8 answer tokens, at 5 a second: about 1.4 s of visible thinking.
    site.fake.configure(ttft=0.1, rate=5, tokens=8)
    open_chat(page, bot="r1")
    send(page, "Why <img src=x onerror=window.pwned=1> is the sky blue")
    reply = last_reply(page)
    block = reply.locator("details.reasoning")
    # Live: open, saying it thinks, its text growing, no answer yet.
    expect(block).to_be_visible()
    expect(block).to_have_attribute("open", "")
    expect(block.locator("summary")).to_have_text("Thinking…")
    expect(block.locator(".reasoning-text")).to_contain_text("Thinking about: Why")
    assert reply.locator(".body").text_content() == ""
    # The answer comes: the block folds and says how long the model thought.
    reply = wait_status(page, "complete")
    expect(reply.locator(".body")).to_contain_text("Echo: Why")
    expect(block).not_to_have_attribute("open", "")
    expect(block.locator("summary")).to_have_text(THOUGHT_FOR)
    thought = "Thinking about: Why <img src=x onerror=window.pwned=1> is the sky blue"
    assert block.locator(".reasoning-text").text_content() == thought  # as text, not markup
    assert "Thinking about" not in reply.locator(".body").text_content()

    page.reload()
    reply = last_reply(page)
    block = reply.locator("details.reasoning")
    expect(block).to_be_visible()
    expect(block).not_to_have_attribute("open", "")
    expect(block.locator("summary")).to_have_text(THOUGHT_FOR)
    assert block.locator(".reasoning-text").text_content() == thought
    block.locator("summary").click()
    expect(block.locator(".reasoning-text")).to_be_visible()
    assert reply.locator("img").count() == 0
    assert page.evaluate("window.pwned === undefined")
