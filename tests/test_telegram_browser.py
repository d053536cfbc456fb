"""End to end in the embedded mode (daphne, no broker): a person makes a link code on their
profile page in a real browser, sends /link CODE and a message from "Telegram" (the fake Bot
API in this process, real webhooks to daphne), and finds the conversation on the website."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser_support import (
    CONVERSATION_URL, PASSWORD, Site, chromium, log_in, new_context, on_playwright_thread,
    playwright_test,
)
from tests.conftest import require
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.telegram_server import TOKEN, USERNAME, FakeTelegram
from tests.stack import chromium_path, postgres_available, stack
from tests.telegram_support import SECRET_HEADER, message_update

pytestmark = pytest.mark.browser

SETUP = """
from accounts.models import User
from conversations.models import Bot
from integrations.models import Integration
User.objects.create_user({email!r}, {password!r})
integration = Integration(platform="telegram", name="Support", bot=Bot.objects.get(slug="demo"),
                          account_name={username!r})
integration.set_credentials(token={token!r})
integration.save()
print("INTEGRATION", integration.pk, integration.webhook_secret)
"""


@pytest.fixture(scope="module")
def telegram_fake() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, telegram_fake: FakeTelegram) -> Iterator[Site]:
    require(chromium_path() is not None, "the browser tests need Chromium at /usr/bin/chromium")
    email = f"linker-{uuid.uuid4().hex[:8]}@example.com"
    with FakeOpenAI() as fake, stack(
        tmp_path_factory.mktemp("browser-telegram"), postgres=postgres_available(), redis=False,
        CHATLAB_DEMO_TOKENS_PER_SECOND="200", CHATLAB_TELEGRAM_API_URL=telegram_fake.url,
        CHATLAB_TELEGRAM_EDIT_INTERVAL="0.2",
    ) as s:
        out = s.shell(SETUP.format(email=email, password=PASSWORD, username=USERNAME,
                                   token=TOKEN))
        _, integration_id, secret = re.search(r"^INTEGRATION \S+ \S+$", out, re.M).group().split()
        url = s.daphne()
        site = Site(stack=s, url=url, fake=fake, email=email)
        site.integration_id, site.secret = int(integration_id), secret  # type: ignore[attr-defined]
        yield site


@pytest.fixture
def page(site: Site) -> Iterator[Page]:
    with chromium() as browser:
        context = on_playwright_thread(new_context, browser, site, logged_in=False)
        page = on_playwright_thread(context.new_page)
        yield page
        on_playwright_thread(context.close)


def webhook(site: Site, update: dict) -> httpx.Response:
    started = time.monotonic()
    response = httpx.post(f"{site.url}/integrations/telegram/{site.integration_id}/",
                          content=json.dumps(update), timeout=10,
                          headers={"Content-Type": "application/json",
                                   SECRET_HEADER[5:].replace("_", "-"): site.secret})
    # The webhook answers at once; the reply is written afterwards on daphne's loop.
    assert time.monotonic() - started < 2
    return response


@playwright_test
def test_link_from_the_profile_then_chat_from_telegram_shows_on_the_web(
        page: Page, site: Site, telegram_fake: FakeTelegram) -> None:
    log_in(page, site.email)
    page.goto("/accounts/profile/")
    expect(page.locator("#messengers")).to_have_text("Link a messenger")
    page.locator("#make-link-code").click()
    code = re.search(r"/link (\S+)", page.locator("#link-code").inner_text()).group(1)

    assert webhook(site, message_update(f"/link {code}", user_id=31337)).status_code == 200
    telegram_fake.wait_for(lambda fake: any("Linked to" in t for t in fake.shown()))
    assert site.email in telegram_fake.shown()[-1]

    assert webhook(site, message_update("Hello from Telegram, dear bot",
                                        user_id=31337)).status_code == 200
    telegram_fake.wait_for(lambda fake: len(fake.calls_of("sendMessage")) == 2
                           and "Hello from Telegram" in fake.shown()[-1])

    page.goto("/")
    link = page.locator("#conversation-list a", has_text="Hello from Telegram")
    expect(link).to_have_count(1)
    link.click()
    page.wait_for_url(CONVERSATION_URL)
    reply = page.locator("#messages article.message.assistant").last
    expect(reply).to_contain_text("Hello from Telegram")
    # The Telegram message ends with the same reply the website shows.
    shown = " ".join(re.sub(r"<[^>]+>", "", telegram_fake.shown()[-1]).split())
    assert len(shown) > 40 and shown[:80] in " ".join(reply.inner_text().split())

    page.goto("/accounts/profile/")
    expect(page.locator("#messenger-accounts")).to_contain_text("Telegram")
    expect(page.locator("#messenger-accounts")).to_contain_text("Ada")
