"""Item 2 of issue #17: a delivery the broker cannot take is not recorded as seen.

The broker really goes away (a TCP door in front of Redis, shut: connections refused) with
Celery's eager mode off, as in production. The webhook answers so that the platform retries
(Telegram and Slack events: 503) or, where it never retries (a Slack slash command, a Discord
interaction), tells the person privately; once the broker is back, the same delivery is queued.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from chatlab_site.celery import app
from integrations.models import Delivery
from tests.conftest import require
from tests.discord_support import command_payload, discord_integration, post_interaction
from tests.integrations.broker_switch import BrokerSwitch
from tests.slack_support import event_payload, mention, post_command, post_event, slack_integration
from tests.stack import _claim_redis_db, _release_redis_db, redis_available
from tests.telegram_support import (  # noqa: F401  (fixtures)
    fake_telegram, fake_telegram_server, message_update, post_update, telegram,
)

pytestmark = pytest.mark.django_db


class Broker:
    def __init__(self, switch: BrokerSwitch, db: int) -> None:
        self.switch = switch
        self.redis = redis.Redis.from_url(switch.url(db).replace(
            f"127.0.0.1:{switch.port}", "127.0.0.1:%d" % switch.upstream[1]))

    def queued(self) -> int:
        """Tasks waiting on the `chat` queue (kombu's Redis transport keeps a list per queue)."""
        return int(self.redis.llen("chat"))


@pytest.fixture(scope="module")
def _switch() -> Iterator[tuple[BrokerSwitch, int]]:
    require(redis_available(), "needs Redis")
    db = _claim_redis_db()
    switch = BrokerSwitch()
    # One broker URL for the whole module: Celery keeps its producer pool for the app's URL.
    saved = app.conf.broker_url, app.conf.task_always_eager
    app.conf.broker_url, app.conf.task_always_eager = switch.url(db), False
    try:
        yield switch, db
    finally:
        switch.down()
        app.conf.broker_url, app.conf.task_always_eager = saved
        _release_redis_db(db)


@pytest.fixture
def broker(_switch, settings) -> Iterator[Broker]:
    switch, db = _switch
    settings.CELERY_TASK_ALWAYS_EAGER = False
    switch.down()
    b = Broker(switch, db)
    b.redis.flushdb()
    yield b
    switch.down()


def test_a_telegram_update_the_broker_cannot_take_is_taken_when_telegram_retries(
        client, telegram, broker):
    update = message_update("Hello while the broker is down")
    refused = post_update(client, telegram, update, wait=False)
    assert refused.status_code == 503  # Telegram re-sends an update until it gets a 2xx
    assert not Delivery.objects.exists()

    broker.switch.up()
    retried = post_update(client, telegram, update, wait=False)
    assert retried.status_code == 200
    assert Delivery.objects.get().key == str(update["update_id"])
    assert broker.queued() == 1
    again = post_update(client, telegram, update, wait=False)  # now a true repeat
    assert again.status_code == 200
    assert broker.queued() == 1


def test_a_slack_event_the_broker_cannot_take_is_retried_by_slack(client, demo_bot, broker):
    integration = slack_integration(demo_bot)
    payload = event_payload(mention("what is a monad?"))
    assert post_event(client, integration, payload).status_code == 503
    assert not Delivery.objects.exists()

    broker.switch.up()
    assert post_event(client, integration, payload, retry=1).status_code == 200
    assert broker.queued() == 1
    assert Delivery.objects.count() == 1


def test_a_slack_slash_command_tells_the_person_privately(client, demo_bot, broker):
    integration = slack_integration(demo_bot)
    response = post_command(client, integration, "/ask", "hello")
    assert response.status_code == 200
    assert response.json()["response_type"] == "ephemeral"
    assert "send it again" in response.json()["text"]
    assert not Delivery.objects.exists()

    broker.switch.up()
    assert post_command(client, integration, "/ask", "hello").status_code == 200
    assert broker.queued() == 1


def test_a_discord_interaction_is_answered_with_a_private_notice(client, demo_bot, broker):
    integration = discord_integration(demo_bot)
    payload = command_payload("ask", "what is a monad?", locale="de")
    response = post_interaction(client, integration, payload)
    assert response.status_code == 200
    answer = response.json()
    assert answer["type"] == 4 and answer["data"]["flags"] == 64  # only the person sees it
    assert answer["data"]["content"]
    assert not Delivery.objects.exists()

    broker.switch.up()
    assert post_interaction(client, integration, payload).json()["type"] == 5
    assert broker.queued() == 1
