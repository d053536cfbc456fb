"""The chat page in a real browser (Chromium through Playwright's sync API).

One stack (daphne with the embedded in-memory channel layer, PostgreSQL when available, else
SQLite) and one browser serve the whole module; each test opens its own browser context.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.browser_support import (
    chromium,
    CONVERSATION_URL, HOME_URL, PASSWORD, UNSAFE_JS, Site,
    last_reply, log_in, new_context, on_playwright_thread, open_chat, playwright_test,
    sample_growth, send, wait_socket, wait_status, wait_until,
)
from tests.conftest import require
from tests.fakes.openai_server import Behaviour, FakeOpenAI
from tests.stack import chromium_path, postgres_available, stack

pytestmark = pytest.mark.browser

SETUP = """
from accounts.models import User
from conversations.models import Bot, Provider
p = Provider.objects.create(name='F', kind='openai', base_url={url!r}, api_key='sk-x',
                            timeout=5, max_retries=1)
Bot.objects.create(name='Fake', slug='fake', provider=p, model='gpt-4o-mini', position=1)
User.objects.create_user({email!r}, {password!r})
"""

HOSTILE = """Here is code:

```python
print("<b>not bold</b>")
```

| Name | Value |
| ---- | ----- |
| a    | 1     |

<script>window.pwned=1</script>

<img src=x onerror="window.pwned=2">

Links: [click](javascript:window.pwned=3) and
[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)

<a href="https://example.com" onclick="window.pwned=4">ok</a>

<iframe src="https://example.com"></iframe>

<style>body{display:none}</style>

Inline: <img src=x onerror="window.pwned=5"> <b onmouseover="window.pwned=6">bold</b>

![tracker](https://example.com/pixel.png?q=secret)

The end.
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    require(chromium_path() is not None, "the browser tests need Chromium at /usr/bin/chromium")
    email = f"reader-{uuid.uuid4().hex[:8]}@example.com"
    with FakeOpenAI() as fake, stack(
        tmp_path_factory.mktemp("browser"), postgres=postgres_available(), redis=False,
        CHATLAB_DEMO_TOKENS_PER_SECOND="15",
    ) as s:
        s.shell(SETUP.format(url=fake.url, email=email, password=PASSWORD))
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
    """A signed-in page; the test fails on any uncaught script error or console error."""
    site.fake.reset()
    site.console_errors.clear()
    site.foreign_requests.clear()
    context = on_playwright_thread(new_context, browser, site)
    page = on_playwright_thread(context.new_page)
    yield page
    on_playwright_thread(context.close)
    assert site.console_errors == []


@playwright_test
def test_sign_up_chat_stream_reload_and_log_in_again(browser: Browser, site: Site) -> None:
    site.console_errors.clear()
    context = new_context(browser, site, logged_in=False)
    page = context.new_page()
    email = f"new-{uuid.uuid4().hex[:8]}@example.com"
    page.goto("/accounts/signup/")
    page.fill("input[name=email]", email)
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.locator("form button[type=submit]").first.click()
    page.wait_for_url(HOME_URL)
    wait_socket(page)
    expect(page.locator("#conversation-list a")).to_have_count(0)

    page.select_option("#bot-select", "demo")
    expect(page.locator("#bot-description")).to_contain_text("offline")
    page.fill("#prompt", "Hello there, streaming world")
    page.keyboard.press("Enter")
    samples = sample_growth(page)
    increases = sum(1 for a, b in zip(samples, samples[1:], strict=False) if b > a)
    assert increases >= 2, samples
    reply = wait_status(page, "complete")
    text = reply.locator(".body").inner_text()
    assert text.startswith("Demo reply.") and "def greet" in text
    assert len(reply.locator(".body").text_content()) >= max(samples)
    reply.locator("pre code").wait_for()

    assert CONVERSATION_URL.search(page.url), page.url
    conversation_id = page.url.rstrip("/").rsplit("/", 1)[1]
    link = page.locator(f'#conversation-list a[data-id="{conversation_id}"]')
    expect(link).to_have_text("Hello there, streaming world")
    expect(page).to_have_title(re.compile("Hello there"))

    page.reload()
    wait_socket(page)
    expect(page.locator("#messages article.message")).to_have_count(2)
    expect(page.locator("article.message.user .body")).to_have_text("Hello there, streaming world")
    reloaded = page.locator("article.message.assistant")
    expect(reloaded).to_have_attribute("data-status", "complete")
    assert reloaded.locator(".body").inner_text() == text
    expect(link).to_have_attribute("aria-current", "page")

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(re.compile(r"/accounts/login/"))
    # Really signed out: the conversation is gone from view (a guest gets a 404, or the login
    # page when guest chat is off).
    page.goto(f"/c/{conversation_id}/")
    expect(page.locator("article.message")).to_have_count(0)
    expect(page.get_by_text("Hello there, streaming world")).to_have_count(0)
    log_in(page, email)
    expect(page.locator(f'#conversation-list a[data-id="{conversation_id}"]')).to_have_text(
        "Hello there, streaming world")
    context.close()
    assert site.console_errors == []


def _assert_safe(page: Page, site: Site) -> None:
    reply = last_reply(page)
    body = reply.locator(".body")
    assert body.locator("pre code").count() == 1
    assert "not bold" in body.locator("pre code").inner_text()
    assert body.locator("pre code b").count() == 0
    assert body.locator("table td").count() == 2
    assert reply.evaluate(UNSAFE_JS) == []
    ok = body.locator('a[href="https://example.com"]')
    expect(ok).to_have_count(1)
    assert "noopener" in (ok.get_attribute("rel") or "").split()
    assert "The end." in body.inner_text()
    # The javascript: and data: links are still shown, as text without a target.
    for name in ("click", "data"):
        expect(body.get_by_text(name, exact=True)).to_have_count(1)
    # An image from another site is not fetched by itself: it is shown as a link.
    assert body.locator('img[src*="example.com"]').count() == 0
    expect(body.locator('a[href="https://example.com/pixel.png?q=secret"]')).to_have_text("tracker")
    assert site.foreign_requests == []
    for i in range(body.locator("a").count()):
        link = body.locator("a").nth(i)
        if link.get_attribute("target") == "_blank":
            with page.context.expect_page() as popup:
                link.click()
            popup.value.close()
        else:
            link.click()
    site.foreign_requests.clear()  # the popups for the https links were refused on purpose
    assert page.evaluate("typeof window.pwned") == "undefined"
    assert page.evaluate("getComputedStyle(document.body).display") != "none"


@playwright_test
def test_markdown_is_rendered_and_sanitised(page: Page, site: Site) -> None:
    site.fake.script(Behaviour(text=HOSTILE, rate=150))
    open_chat(page, bot="fake")
    send(page, "Show me something dangerous")
    wait_status(page, "complete")
    _assert_safe(page, site)

    page.reload()
    wait_socket(page)
    expect(last_reply(page)).to_have_attribute("data-status", "complete")
    _assert_safe(page, site)


@playwright_test
def test_stop_regenerate_and_the_keyboard(page: Page, site: Site) -> None:
    # Keyboard only: Tab reaches the prompt, Shift+Enter adds a line, Enter sends.
    open_chat(page)
    page.evaluate("document.activeElement.blur()")
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "prompt":
            break
    assert page.evaluate("document.activeElement.id") == "prompt"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none", "the focused prompt has no visible focus ring"
    page.keyboard.type("first line")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("second line")
    assert page.input_value("#prompt") == "first line\nsecond line"
    page.keyboard.press("Enter")
    expect(page.locator("article.message.user .body")).to_have_text("first line\nsecond line")
    expect(page.locator("#prompt")).to_have_value("")
    page.wait_for_url(CONVERSATION_URL)

    # Escape stops the demo reply (15 tokens/s) once it has some text.
    reply = _stop_midway(page, lambda: page.keyboard.press("Escape"))
    expect(reply.locator(".meta")).to_contain_text("Stopped")

    # Regenerate by keyboard (the action button is focusable); the Stop button stops it too.
    regenerate = reply.locator(".meta .action")
    expect(regenerate).to_have_text("Regenerate")
    regenerate.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#stop")).to_be_visible()
    expect(page.locator("#send")).to_be_hidden()
    reply = _stop_midway(page, lambda: page.click("#stop"))
    partial = reply.locator(".body").inner_text()
    expect(page.locator("#send")).to_be_visible()
    expect(page.locator("#stop")).to_be_hidden()
    expect(page.locator("#messages article.message")).to_have_count(2)

    # The partial text was saved: a reload shows the same.
    page.reload()
    wait_socket(page)
    expect(last_reply(page)).to_have_attribute("data-status", "cancelled")
    assert last_reply(page).locator(".body").inner_text() == partial

    # Regenerate with the mouse: a new, whole reply replaces the stopped one.
    last_reply(page).locator(".meta .action").click()
    reply = wait_status(page, "complete", timeout=20_000)
    assert "def greet" in reply.locator(".body").inner_text()
    expect(page.locator("#messages article.message")).to_have_count(2)


def _stop_midway(page: Page, stop: Callable[[], None]) -> Locator:
    """Waits until the streaming reply has some text, stops it, checks that text was kept."""
    reply = wait_status(page, "streaming")
    wait_until(
        page, "() => [...document.querySelectorAll('article.message.assistant .body')].pop()"
        ".textContent.length > 20")
    stop()
    wait_status(page, "cancelled")
    partial = reply.locator(".body").inner_text()
    assert partial.startswith("Demo reply.") and "def greet" not in partial, partial
    return reply


@playwright_test
def test_a_failed_reply_shows_why_and_can_be_retried(page: Page, site: Site) -> None:
    site.fake.script(Behaviour(status=500, retry_after=0), Behaviour(status=500, retry_after=0))
    open_chat(page, bot="fake")
    send(page, "Please fail")
    reply = wait_status(page, "failed")
    error = reply.locator(".meta .error")
    expect(error).to_contain_text("internal error")
    assert len(site.fake.requests) == 2  # the first attempt and one retry
    retry = reply.locator(".meta .action")
    expect(retry).to_have_text("Retry")
    retry.click()
    reply = wait_status(page, "complete")
    expect(reply.locator(".body")).to_contain_text("Echo: Please fail")
    expect(reply.locator(".meta .error")).to_have_count(0)
    expect(page.locator("#messages article.message")).to_have_count(2)


@playwright_test
def test_the_chat_works_on_a_phone(browser: Browser, site: Site) -> None:
    site.fake.reset()
    site.console_errors.clear()
    site.fake.script(Behaviour(text=(
        "Sure. Here is a **wide** example:\n\n```bash\n"
        + "curl -s https://api.example.com/v1/some/really/long/path?with=query&and=more " * 3
        + "\n```\n\n| Column | Another column | A third, longer column |\n|---|---|---|\n"
        "| 1 | 2 | 3 |\n\nAnd a long word: " + "supercalifragilistic" * 8 + "\n")))
    context = new_context(browser, site, viewport={"width": 390, "height": 844},
                          device_scale_factor=2, is_mobile=True, has_touch=True)
    page = context.new_page()
    open_chat(page, bot="fake")
    send(page, "How do I call the API from a phone?")
    wait_status(page, "complete")
    path = re.sub(r"^https?://[^/]+", "", page.url)

    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    composer = page.locator("#prompt")
    expect(composer).to_be_visible()
    expect(composer).to_be_in_viewport()
    expect(page.locator("#send")).to_be_in_viewport()
    sidebar = page.locator("#sidebar")
    expect(sidebar).to_be_hidden()
    expect(page.locator("#conversation-list a").first).to_be_hidden()
    page.screenshot(path="/tmp/chatlab-phone.png")

    page.click("#menu-toggle")
    expect(sidebar).to_be_visible()
    wait_until(page, "() => document.getElementById('sidebar').getBoundingClientRect().left >= 0")
    expect(page.locator("#menu-toggle")).to_have_attribute("aria-expanded", "true")
    expect(page.locator("#conversation-list a").first).to_be_in_viewport()
    page.screenshot(path="/tmp/chatlab-phone-menu.png")
    page.keyboard.press("Escape")
    expect(sidebar).to_be_hidden()
    expect(page.locator("#menu-toggle")).to_be_focused()
    page.click("#menu-toggle")
    expect(sidebar).to_be_visible()
    page.mouse.click(370, 400)  # the backdrop beside the drawer closes it too
    expect(sidebar).to_be_hidden()
    context.close()

    # The same conversation on a desktop screen, for a look at the layout.
    context = new_context(browser, site)
    page = context.new_page()
    page.goto(path)
    wait_socket(page)
    expect(page.locator("#sidebar")).to_be_visible()
    page.screenshot(path="/tmp/chatlab-desktop.png")
    context.close()
    assert site.console_errors == []

