"""The markdown sanitiser (static/chat/markdown.js) over hostile replies, in Chromium alone.

The chat renders model output in the browser (it re-renders on every streamed frame), so the
sanitiser is JavaScript; this drives that very file with no server behind it: a page on a made-up
origin loads marked, DOMPurify and markdown.js, renders each payload into the live document and
records every request it makes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from tests.browser_support import on_playwright_thread, playwright_test
from tests.security.payloads import ALL_IN_ONE, FOREIGN, LEAKS

pytestmark = pytest.mark.browser

STATIC = Path(__file__).resolve().parents[2] / "static"
ORIGIN = "http://chatlab.test"
SCRIPTS = ["vendor/marked.min.js", "vendor/purify.min.js", "chat/markdown.js"]
INDEX = "<!doctype html><html><body><main id=out></main>" + "".join(
    f'<script src="/static/{name}"></script>' for name in SCRIPTS) + "</body></html>"

# Attributes that make the browser fetch a URL by itself, and elements that do it with `href`.
LOADING = """
(root) => {
  const found = [];
  const attrs = ['src', 'srcset', 'lowsrc', 'poster', 'background', 'data', 'style', 'ping',
                 'action', 'formaction', 'xlink:href', 'codebase', 'manifest'];
  for (const el of root.querySelectorAll('*')) {
    for (const name of attrs) {
      if (!el.hasAttribute(name)) continue;
      if (name === 'src' && el.tagName === 'IMG'
          && new URL(el.getAttribute('src'), location.href).origin === location.origin) continue;
      found.push(el.tagName + '[' + name + '=' + el.getAttribute(name) + ']');
    }
    if (el.hasAttribute('href') && el.tagName !== 'A') found.push(el.tagName + '[href]');
    if (el.tagName === 'A' && el.hasAttribute('href')
        && !(el.rel.split(' ').includes('noopener') && el.rel.split(' ').includes('noreferrer')))
      found.push('A without rel=noopener noreferrer');
  }
  for (const el of root.querySelectorAll(
      'video, audio, source, track, picture, object, embed, iframe, frame, link, meta, base, '
      + 'svg, math, style, script, input, form'))
    found.push('element ' + el.tagName);
  return found;
}
"""


@pytest.fixture
def browser(package_browser: Browser) -> Browser:
    return package_browser


def _open(browser: Browser, requests: list[str]) -> Page:
    context = browser.new_context()

    def serve(route: Any) -> None:
        url = route.request.url
        if url == f"{ORIGIN}/":
            route.fulfill(body=INDEX, content_type="text/html")
        elif url.startswith(f"{ORIGIN}/static/") and url[len(ORIGIN) + 8:] in SCRIPTS:
            name = url[len(ORIGIN) + 8:]
            route.fulfill(body=(STATIC / name).read_text(), content_type="text/javascript")
        else:
            route.fulfill(status=404, body="")

    context.on("request", lambda request: requests.append(request.url))
    context.route("**/*", serve)
    page = context.new_page()
    page.goto(f"{ORIGIN}/")
    page.wait_for_function("typeof window.renderMarkdown === 'function'")
    return page


def _render(page: Page, text: str) -> list[str]:
    """Renders into the live page as the chat does (innerHTML), twice, as on a re-render."""
    page.evaluate("(t) => { out.innerHTML = renderMarkdown(t); out.innerHTML = renderMarkdown(t); }",
                  text)
    page.wait_for_timeout(300)  # fetches start on insertion; give media and frames a moment
    return page.locator("#out").evaluate(LOADING)


def _foreign(requests: list[str]) -> list[str]:
    return [url for url in requests if FOREIGN in url]


@pytest.mark.parametrize("name", list(LEAKS))
@playwright_test
def test_a_reply_loads_nothing_from_another_origin(browser: Browser, name: str) -> None:
    requests: list[str] = []
    page = _open(browser, requests)
    try:
        assert _render(page, LEAKS[name]) == []
        assert _foreign(requests) == []
    finally:
        page.context.close()


@playwright_test
def test_the_payloads_together_leave_text_and_links_only(browser: Browser) -> None:
    requests: list[str] = []
    page = _open(browser, requests)
    try:
        assert _render(page, ALL_IN_ONE) == []
        assert _foreign(requests) == []
        text = page.locator("#out").inner_text()
        assert text.startswith("Here you go:") and text.rstrip().endswith("The end.")
        # The markdown image is shown as a link a person may follow, not fetched.
        link = page.locator(f'#out a[href="https://{FOREIGN}/md.png?q=SECRET"]')
        assert link.inner_text() == "chart"
        assert link.get_attribute("rel") == "noopener noreferrer nofollow"
    finally:
        page.context.close()


@playwright_test
def test_ordinary_markdown_keeps_its_shape(browser: Browser) -> None:
    requests: list[str] = []
    page = _open(browser, requests)
    try:
        reply = ("# Title\n\n**bold** _it_ ~~gone~~ `code`\n\n```python\nprint(1)\n```\n\n"
                 "| a | b |\n|:--|--:|\n| 1 | 2 |\n\n1. one\n2. two\n\n> quoted\n\n"
                 "[docs](https://example.org/docs) <mailto:me@example.org>\n\n"
                 '![own](/static/logo.png "here")\n')
        assert _render(page, reply) == []
        out = page.locator("#out")
        assert out.locator("h1").inner_text() == "Title"
        assert out.locator("strong").inner_text() == "bold"
        assert out.locator("del").count() == 1
        assert out.locator("pre code.language-python").inner_text().strip() == "print(1)"
        assert out.locator("th").first.get_attribute("align") == "left"
        assert out.locator("ol li").count() == 2
        assert out.locator("blockquote").count() == 1
        assert out.locator('a[href="https://example.org/docs"]').get_attribute("target") == "_blank"
        assert out.locator('a[href="mailto:me@example.org"]').count() == 1
        # An image from the site itself is kept (and requested from the site only).
        assert out.locator('img[src="/static/logo.png"]').count() == 1
        assert f"{ORIGIN}/static/logo.png" in requests
        assert [url for url in requests if not url.startswith(ORIGIN)] == []
    finally:
        page.context.close()
