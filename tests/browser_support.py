"""Helpers for the Playwright browser tests (tests/test_browser.py).

The tests use Playwright's sync API from plain sync pytest tests, but not on pytest's thread:
while Playwright's sync API is alive it leaves its own event loop marked as running on the
thread that started it, and pytest-asyncio (auto mode) then refuses to run the autouse async
fixture of tests/conftest.py ("Runner.run() cannot be called from a running event loop").
So every Playwright call happens on one dedicated thread: fixtures start and stop the browser
through `on_playwright_thread()`, and test functions are wrapped with `@playwright_test`.
"""

from __future__ import annotations

import asyncio
import functools
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.fakes.openai_server import FakeOpenAI
from tests.stack import Stack

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-quic",
]
PASSWORD = "correct horse battery staple 42"
CONVERSATION_URL = re.compile(r"/c/[0-9a-f-]{36}/$")
HOME_URL = re.compile(r"^https?://[^/]+/$")
# Sized so a whole test waits a few seconds at most, even on a slow CI machine.
TIMEOUT_MS = 15_000


@dataclass
class Site:
    stack: Stack
    url: str
    fake: FakeOpenAI
    email: str
    storage_state: dict[str, Any] | None = None
    console_errors: list[str] = field(default_factory=list)
    # Requests the pages tried to make to any other host (all refused).
    foreign_requests: list[str] = field(default_factory=list)


_PLAYWRIGHT_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="playwright")


def on_playwright_thread(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Runs fn on the Playwright thread and returns its result (or raises its exception)."""
    return _PLAYWRIGHT_THREAD.submit(fn, *args, **kwargs).result()


def playwright_test(test: Callable[..., None]) -> Callable[..., None]:
    """Runs a test's body on the Playwright thread; pytest still sees its fixtures."""

    @functools.wraps(test)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        on_playwright_thread(test, *args, **kwargs)

    return wrapper


def assert_no_loop() -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise AssertionError("an asyncio loop is running: Playwright's sync API cannot be used here")


def new_context(browser: Browser, site: Site, *, logged_in: bool = True,
                **options: Any) -> BrowserContext:
    """A fresh browser context that only talks to the site (other hosts are refused)."""
    if logged_in:
        options.setdefault("storage_state", site.storage_state)
    options.setdefault("viewport", {"width": 1280, "height": 800})
    context = browser.new_context(base_url=site.url, **options)
    context.set_default_timeout(TIMEOUT_MS)
    def refuse(route: Any) -> None:
        site.foreign_requests.append(route.request.url)
        route.abort()

    context.route(re.compile(r"^(?!http://127\.0\.0\.1:\d+/).*"), refuse)
    # Whatever the Content-Security-Policy blocks is a bug (a page needing what the policy
    # refuses, or a sanitiser miss): it lands in console_errors, which the tests assert empty.
    context.add_init_script(REPORT_CSP_VIOLATIONS_JS)

    def watch(page: Page) -> None:
        page.on("pageerror", lambda exc: site.console_errors.append(f"{page.url}: {exc}"))
        page.on("console", lambda msg: msg.type == "error"
                and not _expected_console_error(msg.text)
                and site.console_errors.append(f"{page.url}: {msg.text}"))

    context.on("page", watch)
    return context


CSP_VIOLATION = "CSP violation"
# Every violation is reported as a console error but one kind: Chromium checks a hostile reply's
# inline handlers, <style>, <base> and <track> already while DOMPurify parses it into its inert
# document (any parse does: DOMParser, <template>, createHTMLDocument), before they are removed.
# Those are not tied to an element of the page; a miss that reaches the page is, and is reported.
REPORT_CSP_VIOLATIONS_JS = """
document.addEventListener('securitypolicyviolation', (e) => {
  const onPage = e.target instanceof Element && e.target.isConnected;
  const whileSanitising = !onPage && (/\\/purify\\.min\\.[\\w.]*js$/.test(e.sourceFile)
                                      || e.effectiveDirective === 'media-src');
  if (!whileSanitising) console.error('CSP violation: ' + e.effectiveDirective + ' blocked '
    + (e.blockedURI || 'inline') + ' at ' + e.sourceFile + ':' + e.lineNumber);
});
"""


def _expected_console_error(text: str) -> bool:
    if text.startswith(CSP_VIOLATION):
        return False
    if "violates the following Content Security Policy directive" in text:
        return True  # Chromium's own line for each violation: the listener above reports them
    # The markdown test renders <img src=x> and links to example.com on purpose.
    return "404" in text or "ERR_FAILED" in text or "ERR_BLOCKED" in text


def log_in(page: Page, email: str, password: str = PASSWORD) -> None:
    page.goto("/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", password)
    page.locator("form button[type=submit]").first.click()
    page.wait_for_url(HOME_URL)
    wait_socket(page)


def wait_until(page: Page, predicate: str, arg: Any = None, timeout: float = TIMEOUT_MS) -> Any:
    """page.wait_for_function without its eval(): Playwright runs that predicate's text through
    the page's eval, which the site's Content-Security-Policy refuses, while page.evaluate goes
    through the DevTools protocol. `predicate` is a JavaScript function's text, given `arg`."""
    deadline = time.monotonic() + timeout / 1000
    while not (result := page.evaluate(predicate, arg)):
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout} ms: {predicate}")
        page.wait_for_timeout(50)
    return result


def wait_socket(page: Page) -> None:
    wait_until(page, "() => document.body.dataset.socket === 'open'")


def open_chat(page: Page, path: str = "/", bot: str | None = None) -> None:
    page.goto(path)
    wait_socket(page)
    if bot is not None:
        page.select_option("#bot-select", bot)


def last_reply(page: Page):
    return page.locator("#messages article.message.assistant").last


def send(page: Page, text: str) -> None:
    page.fill("#prompt", text)
    page.press("#prompt", "Enter")


def wait_status(page: Page, status: str, timeout: float = TIMEOUT_MS):
    reply = last_reply(page)
    expect(reply).to_have_attribute("data-status", status, timeout=timeout)
    return reply


SAMPLE_GROWTH_JS = """
async () => {
  const deadline = performance.now() + 20000;
  const samples = [];
  const reply = () => [...document.querySelectorAll('#messages article.message.assistant')].pop();
  while (performance.now() < deadline) {
    const el = reply();
    const status = el ? el.dataset.status : 'none';
    if (status === 'streaming') samples.push(el.querySelector('.body').textContent.length);
    else if (samples.length || status === 'complete' || status === 'failed') break;
    await new Promise((r) => setTimeout(r, 80));
  }
  return samples;
}
"""


def sample_growth(page: Page) -> list[int]:
    """Lengths of the streaming reply's text, sampled in the page every 80 ms until it ends."""
    return page.evaluate(SAMPLE_GROWTH_JS)


# Everything in the rendered reply that would let model output run script or leave the page
# unsafely; an empty list means the reply is clean.
UNSAFE_JS = """
(root) => {
  const found = [];
  const banned = 'script, iframe, style, object, embed, form, base, meta, link';
  for (const el of root.querySelectorAll(banned)) found.push('element ' + el.tagName);
  for (const el of root.querySelectorAll('*')) {
    for (const a of el.attributes) {
      if (/^on/i.test(a.name)) found.push(el.tagName + ' has ' + a.name);
      if (a.name === 'style') found.push(el.tagName + ' has style');
      if (['href', 'src', 'action', 'formaction', 'xlink:href'].includes(a.name)
          && /^\\s*(javascript|data|vbscript):/i.test(a.value))
        found.push(el.tagName + ' ' + a.name + '=' + a.value);
    }
  }
  return found;
}
"""



@contextmanager
def chromium(prepare: Callable[[Browser], None] | None = None) -> Iterator[Browser]:
    """Debian's Chromium, started and stopped on the Playwright thread; `prepare` runs there
    once the browser is up (e.g. to log in and keep the session)."""
    from tests.stack import chromium_path

    def launch() -> tuple[Any, Browser]:
        assert_no_loop()
        playwright = sync_playwright().start()
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        if prepare is not None:
            prepare(browser)
        return playwright, browser

    def close(playwright: Any, browser: Browser) -> None:
        browser.close()
        playwright.stop()

    playwright, browser = on_playwright_thread(launch)
    try:
        yield browser
    finally:
        on_playwright_thread(close, playwright, browser)


@contextmanager
def fake_site(tmp_path: Any, setup: str, *, person: str) -> Iterator[Site]:
    """A stack (PostgreSQL when available) with a fake OpenAI server; `setup` is Python run in
    the stack, formatted with the fake's url, a new person's email and the password."""
    import uuid

    from tests.conftest import require
    from tests.stack import chromium_path, postgres_available, stack

    require(chromium_path() is not None, "the browser tests need Chromium at /usr/bin/chromium")
    email = f"{person}-{uuid.uuid4().hex[:8]}@example.com"
    with FakeOpenAI() as fake, stack(tmp_path, postgres=postgres_available(), redis=False) as s:
        s.shell(setup.format(url=fake.url, email=email, password=PASSWORD))
        yield Site(stack=s, url=s.daphne(), fake=fake, email=email)


@contextmanager
def signed_in_chromium(site: Site) -> Iterator[Browser]:
    """Chromium with the site's person signed in once; contexts reuse the session."""
    def remember_login(browser: Browser) -> None:
        context = new_context(browser, site, logged_in=False)
        log_in(context.new_page(), site.email)
        site.storage_state = context.storage_state()
        context.close()

    with chromium(remember_login) as browser:
        yield browser


@contextmanager
def checked_page(browser: Browser, site: Site) -> Iterator[Page]:
    """A fresh signed-in page; the test fails if the page logged a console error."""
    site.fake.reset()
    site.console_errors.clear()
    context = on_playwright_thread(new_context, browser, site)
    page = on_playwright_thread(context.new_page)
    yield page
    on_playwright_thread(context.close)
    assert site.console_errors == []
