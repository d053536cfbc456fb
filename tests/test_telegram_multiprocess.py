"""The production path: daphne takes Telegram's webhook, a Celery worker on the `chat` queue
(PostgreSQL, Redis) writes the reply with the fake OpenAI server and streams it into the fake
Telegram Bot API by editing the message."""

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
from tests.stack import postgres_available, redis_available, stack
from tests.telegram_support import message_update

pytestmark = pytest.mark.multiprocess

SETUP = """
from conversations.models import Bot, Provider
from integrations.models import Integration
provider = Provider.objects.create(name="Fake OpenAI", kind="openai", base_url={url!r},
                                   api_key="sk-e2e", timeout=5, max_retries=1)
Bot.objects.update(is_default=False)  # guests talk to the default bot: this one
bot = Bot.objects.create(slug="gpt", name="GPT", provider=provider, model="gpt-4o-mini",
                         is_default=True)
integration = Integration(platform="telegram", name="Prod", bot=bot, account_name={username!r})
integration.set_credentials(token={token!r})
integration.save()
print("INTEGRATION", integration.pk, integration.webhook_secret)
"""

REPLY = """
from conversations.models import Message
reply = Message.objects.get(role="assistant")
print("REPLY", reply.status, reply.conversation.channel, repr(reply.content))
"""


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    require(postgres_available(), "needs PostgreSQL")
    require(redis_available(), "needs Redis")
    with FakeOpenAI(ttft=0.05, rate=40, tokens=60) as openai, FakeTelegram() as telegram, stack(
        tmp_path_factory.mktemp("telegram-prod"), postgres=True, redis=True,
        CHATLAB_TELEGRAM_API_URL=telegram.url, CHATLAB_TELEGRAM_EDIT_INTERVAL="0.3",
    ) as s:
        out = s.shell(SETUP.format(url=openai.url, username=USERNAME, token=TOKEN))
        _, integration_id, secret = re.search(r"^INTEGRATION \S+ \S+$", out, re.M).group().split()
        url = s.daphne()
        s.celery_worker(queues="chat")
        yield s, url, int(integration_id), secret, telegram


def test_a_webhook_update_is_answered_by_the_chat_worker(production) -> None:
    s, url, integration_id, secret, telegram = production
    update = message_update("Hello from production Telegram", user_id=99)
    started = time.monotonic()
    for _ in range(2):  # Telegram re-sends; the worker answers once
        response = httpx.post(f"{url}/integrations/telegram/{integration_id}/",
                              content=json.dumps(update), timeout=10,
                              headers={"Content-Type": "application/json",
                                       "X-Telegram-Bot-Api-Secret-Token": secret})
        assert response.status_code == 200
    assert time.monotonic() - started < 3  # answered at once, not after the reply

    telegram.wait_for(lambda fake: fake.shown() and len(fake.shown()[-1].split()) >= 60,
                      timeout=60)
    out = s.shell(REPLY)
    status, channel, content = re.search(r"^REPLY (\S+) (\S+) (.*)$", out, re.M).groups()
    assert (status, channel) == ("complete", "telegram")
    telegram.wait_for(lambda fake: fake.shown() == [eval(content)], timeout=30)  # noqa: S307
    assert len(telegram.calls_of("sendMessage")) == 1
    edits = telegram.calls_of("editMessageText")
    assert 1 <= len(edits) <= 10  # 1.5 s of streaming at one edit per 0.3 s, never per token
