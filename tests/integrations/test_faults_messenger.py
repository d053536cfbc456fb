"""Fault injection on the production layout for Telegram (issue #17): PostgreSQL, Redis, a
daphne web process and a Celery `chat` worker, the fake Bot API and the fake OpenAI server.

- The broker goes down during a webhook: the update is answered non-2xx and nothing is
  recorded; Telegram's redelivery once the broker is back gets answered.
- The worker is killed (SIGKILL) mid-reply: the person's message is stored, the partial text
  they saw stays, and the Telegram message is edited with the interrupted notice within the
  stale time and a few seconds.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import require
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.telegram_server import TOKEN, USERNAME, FakeTelegram
from tests.integrations.broker_switch import BrokerSwitch
from tests.stack import postgres_available, redis_available, stack
from tests.telegram_support import message_update

pytestmark = pytest.mark.multiprocess

STALE_SECONDS = 5  # the least CHATLAB_STALE_REPLY_SECONDS takes

SETUP = """
from conversations.models import Bot, Provider
from integrations.models import Integration
provider = Provider.objects.create(name="Fake OpenAI", kind="openai", base_url={url!r},
                                   api_key="sk-e2e", timeout=5, max_retries=1)
Bot.objects.update(is_default=False)
bot = Bot.objects.create(slug="gpt", name="GPT", provider=provider, model="gpt-4o-mini",
                         is_default=True)
integration = Integration(platform="telegram", name="Prod", bot=bot, account_name={username!r})
integration.set_credentials(token={token!r})
integration.save()
print("INTEGRATION", integration.pk, integration.webhook_secret)
"""

# What celery beat and the `maintenance` worker do, at a short interval: sweep until it marks.
SWEEP = """
import time
from asgiref.sync import async_to_sync
from conversations.services.sweep import sweep_interrupted_replies
import integrations.telegram.transport  # a long-running worker has paid aiogram's import (3-4 s)
print("READY", time.monotonic())
deadline = time.monotonic() + {timeout}
count = 0
while not count and time.monotonic() < deadline:
    count = async_to_sync(sweep_interrupted_replies)()  # the receivers have run when it returns
    time.sleep(0.5)
print("SWEPT", count, time.monotonic())
"""

STORED = """
import json
from conversations.models import Message
print("STORED", json.dumps([[m.role, m.status, m.content] for m in
      Message.objects.filter(conversation__channel="telegram", reply_to__isnull=True,
                             role="user").order_by("created_at")]
      + [[m.role, m.status, m.error] for m in Message.objects.filter(role="assistant")
         .order_by("created_at")]))
"""


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    require(postgres_available(), "needs PostgreSQL")
    require(redis_available(), "needs Redis")
    switch = BrokerSwitch()
    switch.up()
    with FakeOpenAI(ttft=0.0, rate=0, tokens=12) as openai, FakeTelegram() as telegram, stack(
        tmp_path_factory.mktemp("telegram-faults"), postgres=True, redis=True,
        CHATLAB_TELEGRAM_API_URL=telegram.url, CHATLAB_TELEGRAM_EDIT_INTERVAL="0.3",
        CHATLAB_STALE_REPLY_SECONDS=str(STALE_SECONDS),
    ) as s:
        out = s.shell(SETUP.format(url=openai.url, username=USERNAME, token=TOKEN))
        _, integration_id, secret = re.search(r"^INTEGRATION \S+ \S+$", out, re.M).group().split()
        # The web process reaches the broker through the switch; the worker directly.
        direct = dict(s.env)
        s.env["CELERY_BROKER_URL"] = switch.url(int(s.env["REDIS_URL"].rsplit("/", 1)[1]))
        url = s.daphne()
        s.env = direct
        s.celery_worker(queues="chat")
        try:
            yield s, url, int(integration_id), secret, telegram, openai, switch
        finally:
            switch.down()


def _post(url: str, integration_id: int, secret: str, update: dict) -> httpx.Response:
    return httpx.post(f"{url}/integrations/telegram/{integration_id}/",
                      content=json.dumps(update), timeout=10,
                      headers={"Content-Type": "application/json",
                               "X-Telegram-Bot-Api-Secret-Token": secret})


def _stored(s) -> list[list[str]]:
    out = s.shell(STORED)
    return json.loads(re.search(r"^STORED (.*)$", out, re.M).group(1))


def test_an_update_refused_while_the_broker_is_down_is_answered_on_redelivery(production):
    s, url, integration_id, secret, telegram, openai, switch = production
    update = message_update("Hello while the broker is down", user_id=71)
    switch.down()
    refused = _post(url, integration_id, secret, update)
    assert refused.status_code >= 300  # Telegram re-sends until it gets a 2xx
    time.sleep(0.5)
    assert telegram.calls_of("sendMessage") == []

    switch.up()
    redelivered = _post(url, integration_id, secret, update)
    assert redelivered.status_code == 200
    telegram.wait_for(lambda fake: len(fake.calls_of("sendMessage")) == 1, timeout=30)
    assert [m for m in _stored(s) if m[0] == "user"] == [
        ["user", "complete", "Hello while the broker is down"]]


def test_a_worker_killed_mid_reply_leaves_the_partial_text_and_the_notice(production):
    s, url, integration_id, secret, telegram, openai, switch = production
    telegram.reset()
    openai.configure(ttft=0.05, rate=8, tokens=400)  # a reply of ~50 s: killed well before
    assert _post(url, integration_id, secret,
                 message_update("Tell me a long story", user_id=72)).status_code == 200
    telegram.wait_for(lambda fake: bool(fake.shown()) and len(fake.shown()[-1].split()) >= 8,
                      timeout=60)
    s.kill("worker")
    killed = time.monotonic()
    seen = telegram.shown()[-1]

    out = s.shell(SWEEP.format(timeout=STALE_SECONDS + 20))
    assert "SWEPT 1" in out, s.logs()
    # CLOCK_MONOTONIC is the machine's: comparable with the sweep process's readings. The sweep
    # process's own start-up (Django, several seconds on a loaded machine) is not counted.
    ready = float(re.search(r"^READY (\S+)$", out, re.M).group(1))
    marked = float(re.search(r"^SWEPT 1 (\S+)$", out, re.M).group(1))
    telegram.wait_for(lambda fake: "/retry" in fake.shown()[-1], timeout=10)
    # One sweep asks the runners for 2 s before it marks; beat runs it at its own interval.
    assert marked - max(ready, killed + STALE_SECONDS) < 8
    final = telegram.shown()[-1]
    assert final.startswith(seen)  # what the person saw is kept
    assert "interrupted" in final
    assert len(telegram.calls_of("sendMessage")) == 1  # the same message, edited

    stored = _stored(s)
    assert ["user", "complete", "Tell me a long story"] in stored
    assert stored[-1][:2] == ["assistant", "failed"]
