"""Every main page under the Content-Security-Policy, in Chromium: each answers with the policy,
works (the chat streams over its socket, the admin's language tabs are drawn, Swagger UI shows
the schema, the dashboard draws its charts), logs no CSP violation and no console error, and
nothing is requested from any host but this one (no CDN: the site is whole offline)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Response, expect

from tests.browser_support import (
    Site, last_reply, new_context, open_chat, playwright_test, send, wait_status, wait_until,
)

pytestmark = pytest.mark.browser

LOCAL_HOSTS = {"127.0.0.1", "localhost"}
LANGUAGES = 6  # the interface languages: one tab each per translated bot field


def _watch(page: Page) -> tuple[list[str], list[str]]:
    """Records every request's URL, and every page (document) served without the policy."""
    requests: list[str] = []
    unprotected: list[str] = []

    def document(response: Response) -> None:
        if response.request.resource_type == "document" and response.status < 300:
            policy = response.headers.get("content-security-policy", "")
            if "script-src 'self'" not in policy or "frame-ancestors 'none'" not in policy:
                unprotected.append(response.url)

    page.context.on("request", lambda request: requests.append(request.url))
    page.on("response", document)
    return requests, unprotected


def _assert_clean(site: Site, requests: list[str], unprotected: list[str]) -> None:
    assert [url for url in requests if urlsplit(url).hostname not in LOCAL_HOSTS
            and not url.startswith(("data:", "blob:"))] == []
    assert site.foreign_requests == []
    assert unprotected == []
    assert site.console_errors == []


@playwright_test
def test_every_main_page_works_under_the_policy(admin_page: Page, site: Site) -> None:
    page = admin_page
    requests, unprotected = _watch(page)

    # The chat: the socket connects (connect-src 'self' covers ws:) and a reply streams in.
    open_chat(page, bot="demo")
    send(page, "Hello under the policy")
    reply = wait_status(page, "complete")
    expect(reply.locator(".body")).to_contain_text("Demo reply.")
    expect(last_reply(page).locator("pre code")).to_have_count(1)

    for path, ready in [
        ("/accounts/profile/", "form.inline-form"),
        ("/search/?q=policy", "main"),
        ("/archive/", "main"),
        ("/trash/", "main"),
        ("/import/", "main"),
        ("/images/", "main"),
        ("/admin/", "#content"),
        ("/admin/ops/backuprun/", "#backups-in-storage"),
    ]:
        page.goto(path)
        page.locator(ready).first.wait_for()

    # A new token and a link code post forms; each answer then turns its history entry into a
    # plain GET (a script file now, it was inline).
    page.goto("/accounts/profile/")
    page.fill("form.inline-form input[name=name]", "csp")
    page.get_by_role("button", name="Create token").click()
    expect(page.locator("#new-token")).to_be_visible()
    page.wait_for_load_state()  # the script comes after the token in the page
    page.reload()
    expect(page.locator("#new-token")).to_have_count(0)  # a GET: no second token
    page.get_by_role("button", name="Make a link code").click()
    expect(page.locator("#link-code")).to_be_visible()
    wait_until(page, "() => location.pathname === '/accounts/profile/'")

    # The analytics dashboard draws its six charts.
    page.goto("/admin/analytics/dailyusage/")
    wait_until(page, "() => window.analyticsCharts && Object.keys(window.analyticsCharts)"
                     ".length === 6")

    # The bot's translated fields become language tabs (jQuery UI, served from here).
    page.goto("/admin/conversations/bot/")
    page.locator("#result_list a", has_text="Fake").click()
    page.wait_for_url("**/change/")
    tabs = page.locator(".ui-tabs-nav").first.locator("li")
    expect(tabs).to_have_count(LANGUAGES)
    expect(tabs.first).to_be_visible()
    assert page.locator(".ui-tabs-panel:visible input[name^=name_]").count() == 1

    _assert_clean(site, requests, unprotected)


@playwright_test
def test_swagger_ui_is_served_from_here(admin_page: Page, site: Site) -> None:
    page = admin_page
    requests, unprotected = _watch(page)
    page.goto("/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Chatlab API")
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible()
    _assert_clean(site, requests, unprotected)


@playwright_test
def test_the_pages_for_visitors_work_under_the_policy(site_browser: Browser, site: Site) -> None:
    site.console_errors.clear()
    site.foreign_requests.clear()
    context = new_context(site_browser, site, logged_in=False)
    page = context.new_page()
    requests, unprotected = _watch(page)
    for path in ("/accounts/login/", "/accounts/signup/", "/accounts/password/reset/",
                 "/admin/login/"):
        page.goto(path)
        page.locator("form").first.wait_for()
    _assert_clean(site, requests, unprotected)
    context.close()
