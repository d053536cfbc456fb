"""Usage from every channel through the real reply pipeline (with no analytics write on a reply's
path), a person's own usage from the same rollups, and recording that never breaks anything."""

from __future__ import annotations

import logging
import re
import threading
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.db.backends.utils import CursorWrapper
from django.db.models import Sum
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.services.tokens import api_token_create
from analytics import recorder
from analytics.models import DailyUsage, DailyUserUsage, Kind, UsageEvent
from analytics.services.rollups import usage_rollup
from conversations.models import Channel, Message
from conversations.services.messages import message_send
from conversations.services.runner import runner
from tests.factories import UserFactory

WRITE = re.compile(r'^\s*(INSERT INTO|UPDATE|DELETE FROM)\s+"?(\w+)"?', re.I)
CHANNELS = [c for c in Channel.values if c != Channel.IMPORT]


class TableWrites:
    def __init__(self) -> None:
        self.tables: list[str] = []
        self._lock = threading.Lock()

    def __enter__(self) -> TableWrites:
        original = self.original = CursorWrapper._execute
        counter = self

        def counting(cursor, sql, params, *rest):
            match = WRITE.match(sql)
            if match:
                with counter._lock:
                    counter.tables.append(match.group(2))
            return original(cursor, sql, params, *rest)

        CursorWrapper._execute = counting
        return self

    def __exit__(self, *exc) -> None:
        CursorWrapper._execute = self.original


async def reply_on(user, bot, channel: str) -> Message:
    sent = await sync_to_async(message_send)(user=user, content=f"hello from {channel}",
                                             bot_slug=bot.slug, channel=channel,
                                             reply_status=Message.Status.STREAMING)
    live = runner().start(sent.reply.pk, sent.conversation.pk)
    await live.task
    return await Message.objects.aget(pk=sent.reply.pk)


@pytest.mark.django_db(transaction=True)
async def test_replies_from_every_channel_are_counted_without_a_write_of_their_own(demo_bot):
    user = await sync_to_async(UserFactory)()
    with TableWrites() as writes:
        replies = [await reply_on(user, demo_bot, channel) for channel in CHANNELS]
    assert all(r.status == Message.Status.COMPLETE for r in replies)
    assert not [t for t in writes.tables if t.startswith("analytics_")]

    await sync_to_async(usage_rollup)(day=timezone.localdate())

    rows = DailyUsage.objects.filter(kind=Kind.REPLY)
    by_channel = {r["channel"]: r["n"] async for r in rows.values("channel").annotate(
        n=Sum("events"))}
    assert by_channel == {channel: 1 for channel in CHANNELS}
    assert {r.bot async for r in rows} == {demo_bot.name}
    person = await DailyUserUsage.objects.aget(user=user)
    assert person.replies == len(CHANNELS)
    assert person.prompt_tokens == sum(r.prompt_tokens or 0 for r in replies)


@pytest.mark.django_db(transaction=True)
async def test_a_broken_error_log_never_breaks_a_reply(demo_bot, monkeypatch, capsys):
    from conversations.services import generation

    def broken_record(*args, **kwargs):
        raise RuntimeError("analytics is down")

    def failing_context(*args, **kwargs):
        raise ValueError("context could not be built")

    monkeypatch.setattr("analytics.error_log.record_error", broken_record)
    monkeypatch.setattr(generation, "build_request", failing_context)
    user = await sync_to_async(UserFactory)()
    reply = await reply_on(user, demo_bot, Channel.WEB)
    # The reply failed for its own reason, readable, and the error log's failure was reported
    # by logging (stderr), not raised into the reply.
    assert reply.status == Message.Status.FAILED
    assert reply.error == "Something went wrong while writing the reply. Please try again."
    assert "analytics is down" in capsys.readouterr().err


@pytest.mark.django_db
def test_a_login_is_recorded_and_a_broken_recorder_never_stops_one(client, monkeypatch, caplog):
    person = UserFactory()
    response = client.post("/accounts/login/", {"login": person.email,
                                               "password": "correct horse battery"})
    assert response.status_code == 302
    assert recorder.flush() == 1
    event = UsageEvent.objects.get(kind=Kind.LOGIN)
    assert (event.user_id, event.role, event.detail) == (person.pk, "user", "password")
    assert len(event.request_id) == 32

    def broken(**fields):
        raise RuntimeError("queue is full")

    monkeypatch.setattr("analytics.signals.record_event", broken)
    client.logout()
    with caplog.at_level(logging.WARNING, logger="analytics.signals"):
        response = client.post("/accounts/login/", {"login": person.email,
                                                   "password": "correct horse battery"})
    assert response.status_code == 302 and "_auth_user_id" in client.session
    assert "could not record the login" in caplog.text


@pytest.mark.django_db
def test_the_profile_and_me_show_the_last_30_days_from_the_rollups(client, user):
    today = timezone.localdate()
    DailyUserUsage.objects.create(day=today - timedelta(days=1), user=user, replies=5,
                                  prompt_tokens=1000, completion_tokens=234, images=2)
    DailyUserUsage.objects.create(day=today - timedelta(days=40), user=user, replies=99)
    DailyUserUsage.objects.create(day=today, user=UserFactory(), replies=77)
    client.force_login(user)
    page = client.get("/accounts/profile/").content.decode()
    table = page[page.index('id="usage-history"'):page.index("</table>", page.index(
        'id="usage-history"'))]
    assert (today - timedelta(days=1)).isoformat() in table and "1,234" in table
    assert "99" not in table and "77" not in table

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=user, name='t')[1]}")
    body = api.get("/api/v1/me/").json()
    history = body["usage_history"]
    assert len(history) == 30 and history[-1]["day"] == today.isoformat()
    assert history[-2] == {"day": (today - timedelta(days=1)).isoformat(), "replies": 5,
                           "tokens": 1234, "images": 2}
    assert sum(d["replies"] for d in history) == 5
    # The quota still counts the messages themselves (none sent today).
    assert body["used_today"]["messages"] == 0
