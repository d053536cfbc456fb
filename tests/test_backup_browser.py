"""The admin's backups page in a real browser (Chromium through Playwright), against a running
site: the stored backup is listed, "Back up now" adds one, and a superuser downloads a file."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from tests.browser_support import PASSWORD, Site, chromium, new_context, playwright_test
from tests.conftest import require
from tests.fakes.openai_server import FakeOpenAI
from tests.stack import chromium_path, stack

pytestmark = pytest.mark.browser

SETUP = """
from accounts.models import User
User.objects.create_superuser({email!r}, {password!r})
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    require(chromium_path() is not None, "the browser tests need Chromium at /usr/bin/chromium")
    email = f"keeper-{uuid.uuid4().hex[:8]}@example.com"
    with FakeOpenAI() as fake, stack(tmp_path_factory.mktemp("browser-backups"), postgres=False,
                                     redis=False) as s:
        s.shell(SETUP.format(email=email, password=PASSWORD))
        s.manage("backup")
        url = s.daphne()
        yield Site(stack=s, url=url, fake=fake, email=email)


@pytest.fixture(scope="module")
def browser(site: Site) -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


@playwright_test
def test_the_backups_page_lists_makes_and_downloads_backups(site: Site, browser: Browser):
    context = new_context(browser, site, logged_in=False, accept_downloads=True)
    page = context.new_page()
    page.goto("/admin/login/?next=/admin/ops/backuprun/")
    page.fill("input[name=username]", site.email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("input[type=submit]").click()
    page.wait_for_url("**/admin/ops/backuprun/")
    rows = page.locator("#backups-in-storage tr.backup-row")
    expect(rows).to_have_count(1)
    first = rows.first.locator("td").first.inner_text().strip()
    assert first.startswith("chatlab-")

    page.get_by_role("button", name="Back up now").click()
    expect(page.locator(".messagelist")).to_contain_text("A backup has been queued")
    expect(rows).to_have_count(2)
    expect(page.locator("#result_list")).to_contain_text("succeeded")

    with page.expect_download() as download:
        rows.last.get_by_role("link", name="manifest.json").click()
    assert download.value.suggested_filename == f"{first}.manifest.json"
    assert b'"signature"' in open(download.value.path(), "rb").read()
    assert not site.console_errors and not site.foreign_requests
    context.close()
