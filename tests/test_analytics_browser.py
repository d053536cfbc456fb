"""The usage dashboard in a real browser: an admin sees the charts drawn (Chart.js from our own
static files, nothing from another host); staff without the right and ordinary people are
refused."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from tests.browser_support import (
    PASSWORD, Site, chromium, new_context, playwright_test, wait_until,
)
from tests.conftest import require
from tests.fakes.openai_server import FakeOpenAI
from tests.stack import chromium_path, postgres_available, stack

pytestmark = pytest.mark.browser
DASHBOARD = "/admin/analytics/dailyusage/"

SETUP = """
import random
from datetime import timedelta
from django.utils import timezone
from accounts.models import User
from analytics.models import DailyUsage, DailyUserUsage, DailyLatency
User.objects.create_superuser({admin!r}, {password!r})
User.objects.create_user({staff!r}, {password!r}, is_staff=True)
person = User.objects.create_user({member!r}, {password!r})
rng = random.Random(3)
today = timezone.localdate()
rows = []
for back in range(30):
    day = today - timedelta(days=back)
    for channel in ("web", "api", "telegram"):
        rows.append(DailyUsage(day=day, kind="reply", channel=channel, bot="Helper",
                               model="gpt-4o-mini", role="user", language="en",
                               events=rng.randint(5, 50), prompt_tokens=rng.randint(1000, 9000),
                               cost=rng.randint(1, 9) / 100))
    DailyUserUsage.objects.create(day=day, user=person, replies=rng.randint(1, 9))
    DailyLatency.objects.create(day=day, kind="reply", ttft=[0, 3, 5] + [0] * 15,
                                total=[0] * 10 + [4, 4] + [0] * 6)
DailyUsage.objects.bulk_create(rows)
"""

PAINTED_JS = """
(id) => {
  const canvas = document.getElementById(id);
  const chart = window.Chart && Chart.getChart(canvas);
  if (!chart) return {chart: false, painted: 0, points: 0};
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted++;
  return {chart: true, painted, points: chart.data.datasets[0].data.length,
          total: chart.data.datasets[0].data.reduce((a, b) => a + b, 0)};
}
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    require(chromium_path() is not None, "the browser tests need Chromium at /usr/bin/chromium")
    tag = uuid.uuid4().hex[:8]
    emails = {"admin": f"admin-{tag}@example.com", "staff": f"staff-{tag}@example.com",
              "member": f"member-{tag}@example.com"}
    with FakeOpenAI() as fake, stack(tmp_path_factory.mktemp("browser-analytics"),
                                     postgres=postgres_available(), redis=False) as s:
        s.shell(SETUP.format(password=PASSWORD, **emails))
        url = s.daphne()
        site = Site(stack=s, url=url, fake=fake, email=emails["admin"])
        site.emails = emails  # type: ignore[attr-defined]
        yield site


@pytest.fixture(scope="module")
def browser(site: Site) -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


def admin_log_in(page: Page, email: str) -> None:
    page.goto(f"/admin/login/?next={DASHBOARD}")
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("input[type=submit]").click()
    page.wait_for_load_state()


@playwright_test
def test_an_admin_sees_the_charts_drawn(site: Site, browser: Browser) -> None:
    context = new_context(browser, site, logged_in=False)
    page = context.new_page()
    admin_log_in(page, site.email)
    assert page.url.endswith(DASHBOARD)
    wait_until(page, "() => window.analyticsCharts && Object.keys(window.analyticsCharts)"
                     ".length === 6")
    for canvas in ("chart-requests", "chart-tokens", "chart-errors", "chart-channel",
                   "chart-bot", "chart-role"):
        drawn = page.evaluate(PAINTED_JS, canvas)
        assert drawn["chart"] and drawn["painted"] > 500, (canvas, drawn)
    requests = page.evaluate(PAINTED_JS, "chart-requests")
    assert requests["points"] == 30
    shown = int(page.locator("#total-requests").inner_text().replace(",", ""))
    channel = page.evaluate(PAINTED_JS, "chart-channel")
    assert channel["points"] == 3 and channel["total"] == shown == requests["total"]
    assert page.locator("#table-latency tbody tr").count() == 2
    # An inverted range is explained, not an error.
    page.goto(f"{DASHBOARD}?start=2026-02-10&end=2026-02-01")
    assert "swapped" in page.locator(".range-note").first.inner_text()
    assert not site.foreign_requests and not site.console_errors, (
        site.foreign_requests, site.console_errors)
    context.close()


@playwright_test
def test_staff_without_the_right_and_ordinary_people_are_refused(site: Site,
                                                                  browser: Browser) -> None:
    context = new_context(browser, site, logged_in=False)
    page = context.new_page()
    admin_log_in(page, site.emails["staff"])  # type: ignore[attr-defined]
    response = page.goto(DASHBOARD)
    assert response is not None and response.status == 403
    assert page.locator("canvas").count() == 0
    context.close()
    context = new_context(browser, site, logged_in=False)
    page = context.new_page()
    admin_log_in(page, site.emails["member"])  # type: ignore[attr-defined]
    page.goto(DASHBOARD)
    assert "/admin/login/" in page.url and page.locator("canvas").count() == 0
    context.close()
