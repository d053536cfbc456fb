"""Accounts in a real browser: sign-up with the confirmation email, login, quotas, the profile
page (usage, API tokens), guests who sign up, deleting the account, password change and reset.

One stack (daphne with the embedded in-memory channel layer and the console email backend,
PostgreSQL when available, else SQLite) and one browser serve the whole module; each test opens
its own browser contexts. Mail is read from daphne's log, where the console backend prints it.

Set CHATLAB_SCREENSHOTS=/some/dir to save screenshots of the account pages there.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser_support import (
    chromium,
    CONVERSATION_URL, HOME_URL, PASSWORD, Site, log_in,
    new_context, on_playwright_thread, playwright_test, send, wait_socket, wait_status,
)
from tests.conftest import require
from tests.stack import Stack, chromium_path, postgres_available, stack

pytestmark = pytest.mark.browser

NEW_PASSWORD = "another horse battery staple 43"
LOGIN_URL = re.compile(r"/accounts/login/$")
MAIL_SEPARATOR = "-" * 79
SCREENSHOTS = os.environ.get("CHATLAB_SCREENSHOTS")
# Made before the server starts (one shell call for both).
DELETE_EMAIL = f"delete-{uuid.uuid4().hex[:8]}@example.com"
PASSWORD_EMAIL = f"password-{uuid.uuid4().hex[:8]}@example.com"
SETUP = f"""
from accounts.models import User
for email in ({DELETE_EMAIL!r}, {PASSWORD_EMAIL!r}):
    User.objects.create_user(email, {PASSWORD!r})
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    require(chromium_path() is not None, "the browser tests need Chromium at /usr/bin/chromium")
    with stack(
        tmp_path_factory.mktemp("browser-accounts"), postgres=postgres_available(), redis=False,
        # Only the offline demo bot (the default), replying at once.
        OPENAI_API_KEY="", CHATLAB_DEMO_TOKENS_PER_SECOND="0", EMAIL_URL="",
        ACCOUNT_EMAIL_VERIFICATION="optional",
    ) as s:
        s.shell(SETUP)
        url = s.daphne()
        yield Site(stack=s, url=url, fake=None, email="")  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def browser(site: Site) -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


@pytest.fixture
def fresh(browser: Browser, site: Site) -> Iterator[BrowserContext]:
    """A signed-out browser context; the test fails on any script or console error."""
    site.console_errors.clear()
    site.foreign_requests.clear()
    context = on_playwright_thread(new_context, browser, site, logged_in=False)
    yield context
    on_playwright_thread(context.close)
    assert site.console_errors == []
    assert site.foreign_requests == []


# Helpers -----------------------------------------------------------------------------------

def new_email(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:8]}@example.com"


def shell_json(s: Stack, code: str) -> object:
    """Runs code in the stack's Django; the code sets `out`, which comes back through JSON."""
    stdout = s.shell(code + "\nimport json as _j; print('@@' + _j.dumps(out))")
    return json.loads(stdout.rsplit("@@", 1)[1])


def mail_link(s: Stack, to: str, path_pattern: str, timeout: float = 10) -> str:
    """The path of the first link matching path_pattern in the latest mail sent to `to`."""
    link = re.compile(r"https?://[^/\s]+(" + path_pattern + r")")
    deadline = time.monotonic() + timeout
    while True:
        mails = [m for m in s.log("web").split(MAIL_SEPARATOR) if f"To: {to}" in m]
        found = [match.group(1) for m in mails[-1:] for match in [link.search(m)] if match]
        if found:
            return found[0]
        if time.monotonic() > deadline:
            raise AssertionError(f"no mail to {to} with {path_pattern}:\n{s.log('web')[-3000:]}")
        time.sleep(0.1)


def screenshot(page: Page, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"chatlab-{name}.png"), full_page=True)


def submit(page: Page) -> None:
    page.locator("form button[type=submit]").first.click()


def sign_up(page: Page, email: str, password: str = PASSWORD) -> None:
    """Fills the sign-up form on the current page and waits for the chat."""
    expect(page).to_have_url(re.compile(r"/accounts/signup/$"))
    page.fill("input[name=email]", email)
    page.fill("input[name=password1]", password)
    page.fill("input[name=password2]", password)
    screenshot(page, "signup")
    submit(page)
    page.wait_for_url(HOME_URL)
    wait_socket(page)


def log_out(page: Page) -> None:
    page.goto("/accounts/logout/")
    submit(page)
    page.wait_for_url(LOGIN_URL)


def login_fails(page: Page, email: str, password: str) -> None:
    page.goto("/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", password)
    submit(page)
    expect(page.locator(".errorlist")).to_contain_text("not correct")
    expect(page).to_have_url(LOGIN_URL)


def usage_row(page: Page, name: str) -> list[str]:
    row = page.locator("#usage tbody tr", has=page.get_by_role("rowheader", name=name))
    return [t.strip() for t in row.locator("td").all_inner_texts()]


# Tests -------------------------------------------------------------------------------------

@playwright_test
def test_sign_up_confirm_log_in_chat_quota_profile_and_tokens(
    fresh: BrowserContext, site: Site
) -> None:
    s = site.stack
    page = fresh.new_page()
    email = new_email("signup")
    page.goto("/accounts/signup/")
    sign_up(page, email)

    # The confirmation mail is printed by the console backend; its link confirms the address.
    path = mail_link(s, email, r"/accounts/confirm-email/[^/\s]+/")
    page.goto(path)
    expect(page.locator("main")).to_contain_text(email)
    submit(page)
    page.wait_for_url(HOME_URL)
    expect(page.locator("#flash")).to_contain_text(f"You have confirmed {email}")
    screenshot(page, "chat-confirmed")
    page.goto("/accounts/email/")
    addresses = page.locator("main form").first
    expect(addresses).to_contain_text(re.compile(rf"{re.escape(email)}\s+Verified\s+Primary"))
    screenshot(page, "email")

    page.goto("/")
    wait_socket(page)
    expect(page.locator("#flash")).to_have_count(0)  # notices are shown once
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(LOGIN_URL)
    screenshot(page, "login")
    log_in(page, email)
    expect(page.locator("#guest-banner")).to_have_count(0)
    expect(page.locator("#bot-select")).to_have_value("demo")
    send(page, "Hello from a confirmed account")
    reply = wait_status(page, "complete")
    expect(reply.locator(".body")).to_contain_text("Demo reply.")
    page.wait_for_url(CONVERSATION_URL)

    s.shell("from accounts.models import RolePolicy; "
            "RolePolicy.objects.filter(role='user').update(messages_per_day=2)")
    try:
        send(page, "Second message")
        expect(page.locator("#messages article.message.assistant")).to_have_count(2)
        wait_status(page, "complete")
        send(page, "Third message, over the limit")
        error = page.locator("#composer-error")
        expect(error).to_be_visible()
        expect(error).to_contain_text("all 2 messages")
        # Nothing was stored or started: the refused message left the thread and went back to
        # the composer.
        expect(page.locator("#messages article.message")).to_have_count(4)
        expect(page.locator("#prompt")).to_have_value("Third message, over the limit")
        assert shell_json(s, (
            "from conversations.models import Message\n"
            f"out = sorted(Message.objects.filter(conversation__owner__email={email!r})"
            ".values_list('role', flat=True))"
        )) == ["assistant", "assistant", "user", "user"]

        page.reload()
        wait_socket(page)
        expect(page.locator("#messages article.message")).to_have_count(4)

        # The profile shows today's usage against the limit.
        page.goto("/accounts/profile/")
        expect(page.locator("#role")).to_have_text("user")
        assert usage_row(page, "Messages") == ["2", "2", "0"]
    finally:
        s.shell("from accounts.models import RolePolicy; "
                "RolePolicy.objects.filter(role='user').update(messages_per_day=500)")

    # An API token is shown once, then only listed by name; revoking removes it from the list.
    # (The profile's other table of the same style lists linked messenger accounts.)
    tokens = page.locator("table.tokens:not(#messenger-accounts) tbody tr")
    expect(tokens).to_have_text(["No tokens yet."])
    page.fill("input[name=name]", "laptop script")
    page.get_by_role("button", name="Create token").click()
    token = page.locator("#new-token")
    expect(token).to_have_text(re.compile(r"^chl_[\w-]{40,}$"))
    raw = token.inner_text()
    expect(tokens).to_have_count(1)
    expect(tokens.first).to_contain_text("laptop script")
    expect(tokens.first).to_contain_text(raw[:10])
    screenshot(page, "profile")

    # Reloading shows the list without the token and does not post the form again.
    page.reload()
    expect(page.locator("#new-token")).to_have_count(0)
    assert raw not in page.content()
    expect(tokens).to_have_count(1)
    expect(tokens.first.locator("td").first).to_have_text("laptop script")
    expect(tokens.first).to_contain_text("never")

    tokens.first.get_by_role("button", name="Revoke").click()
    page.wait_for_url(re.compile(r"/accounts/profile/$"))
    expect(page.locator(".flash")).to_contain_text("The token was revoked.")
    expect(tokens).to_have_text(["No tokens yet."])


@playwright_test
def test_guest_chats_then_signs_up_and_keeps_the_conversation(
    fresh: BrowserContext, site: Site
) -> None:
    page = fresh.new_page()
    page.goto("/")
    wait_socket(page)
    banner = page.locator("#guest-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("guest")
    # Guests get the default bot only.
    expect(page.locator("#bot-select option")).to_have_count(1)
    expect(page.locator("#bot-select")).to_have_value("demo")
    expect(page.locator("#conversation-list a")).to_have_count(0)

    send(page, "Hello as a guest")
    reply = wait_status(page, "complete")
    expect(reply.locator(".body")).to_contain_text("Demo reply.")
    page.wait_for_url(CONVERSATION_URL)
    conversation_id = page.url.rstrip("/").rsplit("/", 1)[1]
    expect(page.locator(f'#conversation-list a[data-id="{conversation_id}"]')).to_have_text(
        "Hello as a guest")
    screenshot(page, "guest")

    banner.get_by_role("link", name="Sign up").click()
    page.wait_for_url(re.compile(r"/accounts/signup/$"))
    email = new_email("guest")
    sign_up(page, email)
    expect(page.locator("#guest-banner")).to_have_count(0)
    link = page.locator(f'#conversation-list a[data-id="{conversation_id}"]')
    expect(link).to_have_text("Hello as a guest")
    link.click()
    page.wait_for_url(re.compile(f"/c/{conversation_id}/$"))
    wait_socket(page)
    expect(page.locator("#messages article.message")).to_have_count(2)
    expect(page.locator("article.message.user .body")).to_have_text("Hello as a guest")


@playwright_test
def test_delete_account_from_the_profile(fresh: BrowserContext, site: Site) -> None:
    s = site.stack
    email = DELETE_EMAIL
    page = fresh.new_page()
    log_in(page, email)
    send(page, "Soon gone")
    wait_status(page, "complete")
    page.wait_for_url(CONVERSATION_URL)
    conversation_id = page.url.rstrip("/").rsplit("/", 1)[1]

    page.goto("/accounts/profile/")
    page.get_by_role("link", name="Delete my account").click()
    page.wait_for_url(re.compile(r"/accounts/delete/$"))
    page.fill("input[name=password]", "not my password")
    page.get_by_role("button", name="Delete everything").click()
    expect(page.locator(".errorlist")).to_contain_text("That is not your password.")
    screenshot(page, "delete")
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Delete everything").click()
    page.wait_for_url(LOGIN_URL)
    expect(page.locator(".flash")).to_contain_text("deleted")
    assert shell_json(s, (
        "from accounts.models import User\nfrom conversations.models import Conversation\n"
        f"out = [User.objects.filter(email={email!r}).count(), "
        f"Conversation.objects.filter(pk={conversation_id!r}).count()]"
    )) == [0, 0]

    login_fails(page, email, PASSWORD)
    page.goto("/accounts/profile/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/accounts/profile/$"))


@playwright_test
def test_password_change_and_reset(fresh: BrowserContext, site: Site) -> None:
    s = site.stack
    email = PASSWORD_EMAIL
    page = fresh.new_page()
    log_in(page, email)

    page.goto("/accounts/password/change/")
    page.fill("input[name=oldpassword]", PASSWORD)
    page.fill("input[name=password1]", NEW_PASSWORD)
    page.fill("input[name=password2]", NEW_PASSWORD)
    screenshot(page, "password-change")
    submit(page)
    expect(page.locator(".flash")).to_contain_text("Password successfully changed.")
    log_out(page)
    login_fails(page, email, PASSWORD)
    log_in(page, email, NEW_PASSWORD)
    log_out(page)

    # Reset: the mailed link leads to a form that sets a new password.
    page.get_by_role("link", name=re.compile("Forgot your password", re.I)).click()
    page.wait_for_url(re.compile(r"/accounts/password/reset/$"))
    page.fill("input[name=email]", email)
    screenshot(page, "password-reset")
    submit(page)
    page.wait_for_url(re.compile(r"/accounts/password/reset/done/$"))
    path = mail_link(s, email, r"/accounts/password/reset/key/[^/\s]+/")
    page.goto(path)
    page.wait_for_url(re.compile(r"/accounts/password/reset/key/[^/]+-set-password/$"))
    reset_password = "third horse battery staple 44"
    page.fill("input[name=password1]", reset_password)
    page.fill("input[name=password2]", reset_password)
    screenshot(page, "password-reset-key")
    submit(page)
    page.wait_for_url(re.compile(r"/accounts/password/reset/key/done/$"))
    # The link works once.
    page.goto(path)
    expect(page.locator("main")).to_contain_text("Bad Token")
    log_in(page, email, reset_password)
