from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from channels.layers import get_channel_layer
from django.test import Client

from conversations.models import Bot, Provider
from tests.factories import BotFactory, ProviderFactory, UserFactory
from tests.fakes.openai_server import FakeOpenAI

IN_CI = os.environ.get("CI", "").lower() == "true"


def require(available: bool, reason: str) -> None:
    """Skips when a service is missing, except under CI, where everything must run."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: .ci/run must provide it)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def fake_openai_server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def fake_openai(fake_openai_server: FakeOpenAI) -> Iterator[FakeOpenAI]:
    fake_openai_server.reset()
    fake_openai_server.configure(ttft=0.0, rate=0.0, tokens=12)
    yield fake_openai_server
    fake_openai_server.reset()


@pytest.fixture(autouse=True)
def _default_roles(request):
    # Transactional tests empty every table, data migrations' rows included: put roles back.
    if "django_db" in request.keywords or {"db", "transactional_db"} & set(request.fixturenames):
        from accounts.roles import ensure_default_roles

        request.getfixturevalue("db") if "transactional_db" not in request.fixturenames else None
        ensure_default_roles()


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def other_user(db):
    return UserFactory()


@pytest.fixture
def demo_bot(db) -> Bot:
    return BotFactory(slug="demo", name="Demo", is_default=True)


@pytest.fixture
def openai_bot(db, fake_openai: FakeOpenAI) -> Bot:
    provider = ProviderFactory(
        name="Fake OpenAI", kind=Provider.Kind.OPENAI, base_url=fake_openai.url,
        api_key="sk-test-secret-key", timeout=5, max_retries=1,
    )
    return BotFactory(slug="gpt", name="GPT", provider=provider, model="gpt-4o-mini")


@pytest.fixture
def reasoning_bot(openai_bot: Bot) -> Bot:
    """A DeepSeek-R1-style bot: the fake server streams its reasoning before the answer."""
    return BotFactory(slug="r1", name="R1", provider=openai_bot.provider, model="deepseek-r1")


@pytest.fixture
def logged_in(client: Client, user) -> Client:
    client.force_login(user)
    return client


@pytest.fixture(autouse=True)
async def _fresh_channel_layer():
    yield
    layer = get_channel_layer()
    if hasattr(layer, "flush"):
        await layer.flush()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # Under CI a skip is a failure: the services a test needs must be there for real.
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true: {report.longrepr}"


@pytest.fixture(autouse=True)
def _no_leftover_analytics():
    # Logins and errors a test left unflushed must not be written into the next test.
    from analytics.recorder import discard

    discard()
    yield
    discard()


@pytest.fixture(autouse=True)
def _empty_cache():
    # Rate-limit counters live in the cache; each test starts with none.
    from django.core.cache import cache

    cache.clear()
    yield
