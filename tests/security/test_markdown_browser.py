"""A prompt-injected reply that tries to make the browser fetch from another origin, streamed by
the fake OpenAI server and rendered by the chat page in Chromium: nothing leaves for another host,
neither while it streams nor after a reload, and no Content-Security-Policy violation is needed to
stop it (the sanitiser keeps nothing that would load)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from tests.browser_support import (
    Site, last_reply, open_chat, playwright_test, send, wait_socket, wait_status,
)
from tests.fakes.openai_server import Behaviour
from tests.security.payloads import ALL_IN_ONE, FOREIGN

pytestmark = pytest.mark.browser

LOCAL_HOSTS = {"127.0.0.1", "localhost"}


def _record_requests(page: Page) -> list[str]:
    requests: list[str] = []
    page.context.on("request", lambda request: requests.append(request.url))
    return requests


def _leaving(requests: list[str]) -> list[str]:
    return [url for url in requests if urlsplit(url).hostname not in LOCAL_HOSTS]


def _assert_rendered_without_leaks(page: Page, site: Site, requests: list[str]) -> None:
    reply = last_reply(page)
    expect(reply.locator(".body")).to_contain_text("The end.")
    page.wait_for_timeout(500)  # media elements and frames start fetching on insertion
    assert _leaving(requests) == []
    assert site.foreign_requests == []
    assert reply.locator(".body video, .body audio, .body source, .body svg, .body iframe, "
                         ".body object, .body embed, .body [style], .body [background]").count() == 0
    link = reply.locator(f'.body a[href="https://{FOREIGN}/md.png?q=SECRET"]')
    expect(link).to_have_text("chart")


@playwright_test
def test_a_hostile_reply_makes_no_request_to_another_origin(admin_page: Page, site: Site) -> None:
    page = admin_page
    requests = _record_requests(page)
    site.fake.script(Behaviour(text=ALL_IN_ONE, rate=400))
    open_chat(page, bot="fake")
    send(page, "Summarise our conversation")
    wait_status(page, "complete")
    _assert_rendered_without_leaks(page, site, requests)

    requests.clear()
    page.reload()
    wait_socket(page)
    expect(last_reply(page)).to_have_attribute("data-status", "complete")
    _assert_rendered_without_leaks(page, site, requests)
    assert site.console_errors == []
