"""One stack and one browser for the security browser tests of this folder: daphne (embedded
channel layer; PostgreSQL when available, else SQLite), a fake OpenAI server and an admin who
may visit every page."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from tests.browser_support import (
    Site, chromium, log_in, new_context, on_playwright_thread,
)
from tests.conftest import require
from tests.fakes.openai_server import FakeOpenAI
from tests.stack import chromium_path, postgres_available, stack

SETUP = """
from accounts.models import User
from conversations.models import Bot, Provider
p = Provider.objects.create(name='F', kind='openai', base_url={url!r}, api_key='sk-x',
                            timeout=5, max_retries=1)
Bot.objects.create(name='Fake', slug='fake', provider=p, model='gpt-4o-mini', position=1)
User.objects.create_superuser({email!r}, {password!r})
"""


@pytest.fixture(scope="package")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    require(chromium_path() is not None, "the browser tests need Chromium at /usr/bin/chromium")
    from tests.browser_support import PASSWORD

    email = f"admin-{uuid.uuid4().hex[:8]}@example.com"
    with FakeOpenAI() as fake, stack(
        tmp_path_factory.mktemp("security"), postgres=postgres_available(), redis=False,
        CHATLAB_DEMO_TOKENS_PER_SECOND="0",
    ) as s:
        s.shell(SETUP.format(url=fake.url, email=email, password=PASSWORD))
        yield Site(stack=s, url=s.daphne(), fake=fake, email=email)


@pytest.fixture(scope="package")
def package_browser() -> Iterator[Browser]:
    """The folder's one Chromium: Playwright's sync API allows one instance per thread, and
    every test here drives it on the same Playwright thread."""
    require(chromium_path() is not None, "the browser tests need Chromium at /usr/bin/chromium")
    with chromium() as browser:
        yield browser


@pytest.fixture(scope="package")
def site_browser(package_browser: Browser, site: Site) -> Browser:
    def remember_login(browser: Browser) -> None:
        context = new_context(browser, site, logged_in=False)
        log_in(context.new_page(), site.email)
        site.storage_state = context.storage_state()
        context.close()

    on_playwright_thread(remember_login, package_browser)
    return package_browser


@pytest.fixture
def admin_page(site_browser: Browser, site: Site) -> Iterator[Page]:
    """A page signed in as the admin; every request it makes is recorded in `requests`."""
    site.fake.reset()
    site.console_errors.clear()
    site.foreign_requests.clear()
    context = on_playwright_thread(new_context, site_browser, site)
    page = on_playwright_thread(context.new_page)
    yield page
    on_playwright_thread(context.close)
