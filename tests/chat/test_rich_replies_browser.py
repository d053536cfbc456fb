"""Code and maths in replies, in Chromium under the site's Content-Security-Policy (issue #21):
highlighted code blocks with their language and a copy button, a copy button for the whole
message, long lines scrolling inside their block, maths as MathML (and prices left alone), tables
scrolling in their own box on a phone. Any CSP violation or console error fails the test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser_support import (
    Site, fake_site, last_reply, new_context, on_playwright_thread, open_chat, playwright_test,
    send, signed_in_chromium, wait_status, wait_until,
)
from tests.fakes.openai_server import Behaviour

pytestmark = pytest.mark.browser

SETUP = """
from accounts.models import User
from conversations.models import Bot, Provider
p = Provider.objects.create(name='F', kind='openai', base_url={url!r}, api_key='sk-x',
                            timeout=5, max_retries=1)
Bot.objects.create(name='Fake', slug='fake', provider=p, model='gpt-4o-mini', position=1)
User.objects.create_user({email!r}, {password!r})
"""
CODE = 'def greet(name):\n    """Say hello."""\n    return f"Hello, {name} <b>&</b>"'
LONG_LINE = "x = [" + ", ".join(str(n) for n in range(200)) + "]"
CODE_REPLY = f"Here you go:\n\n```python\n{CODE}\n```\n\nAnd a long one:\n\n```python\n{LONG_LINE}\n```\n"
MATHS_REPLY = (
    "Euler: $e^{i\\pi} + 1 = 0$ and \\(a_1 * b_2\\). It costs $5 and $6 today.\n\n"
    "$$\n\\int_0^1 x^2 \\, dx = \\frac{1}{3}\n$$\n\nThe end."
)
TABLE_REPLY = ("| " + " | ".join(f"column {n}" for n in range(12)) + " |\n"
               + "|" + "---|" * 12 + "\n| " + " | ".join(f"value {n}" for n in range(12)) + " |\n")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with fake_site(tmp_path_factory.mktemp("rich-replies"), SETUP, person="coder") as site:
        yield site


@pytest.fixture(scope="module")
def browser(site: Site) -> Iterator[Browser]:
    with signed_in_chromium(site) as browser:
        yield browser


def _open(browser: Browser, site: Site, **options) -> Page:
    """A page of a fresh context that may read and write the clipboard (on the Playwright thread)."""
    site.fake.reset()
    site.console_errors.clear()
    context = new_context(browser, site, **options)
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    return context.new_page()


def _page(browser: Browser, site: Site, **options) -> Iterator[Page]:
    page = on_playwright_thread(_open, browser, site, **options)
    yield page
    on_playwright_thread(page.context.close)
    assert site.console_errors == []


@pytest.fixture
def page(browser: Browser, site: Site) -> Iterator[Page]:
    yield from _page(browser, site)


@pytest.fixture
def phone(browser: Browser, site: Site) -> Iterator[Page]:
    yield from _page(browser, site, viewport={"width": 390, "height": 844}, is_mobile=True,
                     has_touch=True)


def _clipboard(page: Page) -> str:
    return page.evaluate("() => navigator.clipboard.readText()")


@playwright_test
def test_a_code_block_is_highlighted_labelled_and_copied(page: Page, site: Site) -> None:
    open_chat(page, bot="fake")
    site.fake.script(Behaviour(text=CODE_REPLY, rate=40))
    send(page, "show me code")
    # While it streams, the first block is already highlighted.
    wait_until(page, """() => {
      const r = [...document.querySelectorAll('#messages article.message.assistant')].pop();
      return r && r.dataset.status === 'streaming'
        && r.querySelector('.code-block code.hljs span.hljs-keyword') !== null;
    }""")
    reply = wait_status(page, "complete")
    block = reply.locator(".code-block").first
    expect(block.locator(".code-lang")).to_have_text("python")
    expect(block.locator("code span.hljs-keyword").first).to_have_text("def")
    expect(block.locator("code span.hljs-string").first).to_be_visible()
    assert block.locator("code").text_content() == CODE + "\n"
    # Keyboard: the copy button is reachable and works with Enter.
    button = block.locator("button.code-copy")
    expect(button).to_have_text("Copy code")
    button.focus()
    page.keyboard.press("Enter")
    expect(button).to_have_text("Copied")
    assert _clipboard(page) == CODE
    expect(button).to_have_text("Copy code", timeout=4000)

    # The whole message, as the markdown the model wrote.
    reply.locator("button.copy-message").click()
    expect(reply.locator("button.copy-message")).to_have_text("Copied")
    assert _clipboard(page) == CODE_REPLY

    # The long line scrolls inside its block, not the page.
    wide = reply.locator(".code-block pre").nth(1)
    assert wide.evaluate("(pre) => pre.scrollWidth > pre.clientWidth + 100")
    assert page.evaluate("() => document.documentElement.scrollWidth <= innerWidth")
    assert wide.evaluate("(pre) => getComputedStyle(pre).overflowX") == "auto"
    assert reply.locator(".body [style]").count() == 0
    page.screenshot(path="/tmp/rich-replies-code.png")


@playwright_test
def test_maths_renders_as_mathml_and_prices_stay_prose(page: Page, site: Site) -> None:
    open_chat(page, bot="fake")
    site.fake.script(Behaviour(text=MATHS_REPLY, rate=400))
    send(page, "maths")
    reply = wait_status(page, "complete")
    body = reply.locator(".body")
    expect(body.locator(".math-inline math")).to_have_count(2)
    expect(body.locator(".math-display math[display=block]")).to_have_count(1)
    assert body.locator(".math-display annotation").text_content().startswith("\\int_0^1")
    # The underscores and the star are TeX, not markdown emphasis.
    assert body.locator("em").count() == 0
    expect(body).to_contain_text("It costs $5 and $6 today.")
    assert body.locator("code").count() == 0  # every formula rendered, none left as source
    assert body.locator("[style]").count() == 0
    page.screenshot(path="/tmp/rich-replies-maths.png")


@playwright_test
def test_a_wide_table_scrolls_in_its_box_on_a_phone(phone: Page, site: Site) -> None:
    page = phone
    open_chat(page, bot="fake")
    site.fake.script(Behaviour(text=TABLE_REPLY, rate=400))
    send(page, "table")
    reply = wait_status(page, "complete")
    box = reply.locator(".body .table-scroll")
    expect(box.locator("table")).to_have_count(1)
    assert box.evaluate("(el) => el.scrollWidth > el.clientWidth + 100")
    assert box.evaluate("(el) => getComputedStyle(el).overflowX") == "auto"
    assert box.evaluate("(el) => el.getBoundingClientRect().right <= innerWidth")
    assert page.evaluate("() => document.documentElement.scrollWidth <= innerWidth")
    page.screenshot(path="/tmp/rich-replies-table.png")


@pytest.mark.parametrize(("locale", "copy_code", "copied", "copy"), [
    ("ru-RU", "Копировать код", "Скопировано", "Копировать"),
    ("de-DE", "Code kopieren", "Kopiert", "Kopieren"),
])
@playwright_test
def test_copy_buttons_speak_the_page_language_on_a_dark_phone(
    browser: Browser, site: Site, locale: str, copy_code: str, copied: str, copy: str
) -> None:
    page = _open(browser, site, viewport={"width": 390, "height": 844}, is_mobile=True,
                 has_touch=True, locale=locale, color_scheme="dark")
    open_chat(page, bot="fake")
    site.fake.script(Behaviour(text=CODE_REPLY + "\n" + MATHS_REPLY, rate=400))
    send(page, "code")
    reply = wait_status(page, "complete")
    button = reply.locator("button.code-copy").first
    expect(button).to_have_text(copy_code)
    button.tap()
    expect(button).to_have_text(copied)
    assert _clipboard(page) == CODE
    expect(reply.locator("button.copy-message")).to_have_text(copy)
    # The dark theme of highlight.js is the one applied.
    keyword = reply.locator("code span.hljs-keyword").first
    assert keyword.evaluate("(el) => getComputedStyle(el).color") == "rgb(255, 123, 114)"
    assert page.evaluate("() => document.documentElement.scrollWidth <= innerWidth")
    page.screenshot(path=f"/tmp/rich-replies-{locale}.png", full_page=True)
    page.context.close()
    assert site.console_errors == []
