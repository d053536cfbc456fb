"""Shared by the Slack tests: the fake Web API, integrations, and requests signed as Slack signs
them (computed here with hmac, independently of slack-sdk's verifier under test)."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from django.test import Client

from integrations.models import Integration, Platform
from tests.fakes.slack_server import BOT_USER_ID, FakeSlack

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_TOKEN = "xoxb-test-token"
_ids = itertools.count(1)


@pytest.fixture(scope="session")
def fake_slack_server() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def fake_slack(fake_slack_server: FakeSlack, settings) -> Iterator[FakeSlack]:
    fake_slack_server.reset()
    settings.CHATLAB_SLACK_API_URL = fake_slack_server.api_url
    settings.CHATLAB_MESSENGER_MAX_RETRY_AFTER = 2.0
    yield fake_slack_server
    fake_slack_server.reset()


def slack_integration(bot: Any, **credentials: str) -> Integration:
    integration = Integration(platform=Platform.SLACK, name="Slack test", bot=bot)
    integration.set_credentials(**{"bot_token": BOT_TOKEN, "signing_secret": SIGNING_SECRET,
                                   **credentials})
    integration.save()
    return integration


def signature_headers(body: bytes, *, secret: str = SIGNING_SECRET,
                      timestamp: int | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256)
    return {"HTTP_X_SLACK_REQUEST_TIMESTAMP": ts,
            "HTTP_X_SLACK_SIGNATURE": "v0=" + digest.hexdigest()}


def post_event(client: Client, integration: Integration, payload: dict[str, Any] | bytes, *,
               retry: int | None = None, headers: dict[str, str] | None = None, **sign: Any):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    extra = signature_headers(body, **sign) if headers is None else headers
    if retry is not None:
        extra = {**extra, "HTTP_X_SLACK_RETRY_NUM": str(retry),
                 "HTTP_X_SLACK_RETRY_REASON": "http_timeout"}
    return client.post(f"/integrations/slack/{integration.pk}/", body,
                       content_type="application/json", **extra)


def post_command(client: Client, integration: Integration, command: str, text: str, *,
                 channel: str = "C0CHANNEL", user: str = "U0PERSON",
                 response_url: str = "https://hooks.slack.com/commands/T0TEST/1/abc", **sign: Any):
    body = urlencode({
        "token": "deprecated-verification-token", "team_id": "T0TEST", "team_domain": "test",
        "channel_id": channel, "channel_name": "general", "user_id": user,
        "user_name": "ada", "command": command, "text": text, "api_app_id": "A0CHATLAB",
        "response_url": response_url,
        "trigger_id": f"{next(_ids)}.{int(time.time())}.abcdef",
    }).encode()
    return client.post(f"/integrations/slack/{integration.pk}/", body,
                       content_type="application/x-www-form-urlencoded",
                       **signature_headers(body, **sign))


def event_payload(text: str, *, kind: str = "app_mention", user: str = "U0PERSON",
                  channel: str = "C0CHANNEL", thread_ts: str | None = None,
                  event_id: str | None = None, **event: Any) -> dict[str, Any]:
    ts = f"{int(time.time())}.{next(_ids):06d}"
    body = {"type": kind, "user": user, "text": text, "ts": ts, "channel": channel,
            "event_ts": ts, **event}
    if kind == "message":
        body.setdefault("channel_type", "im")
    if thread_ts:
        body["thread_ts"] = thread_ts
    return {
        "token": "deprecated-verification-token", "team_id": "T0TEST", "api_app_id": "A0CHATLAB",
        "event": body, "type": "event_callback",
        "event_id": event_id or f"Ev{next(_ids):08d}", "event_time": int(time.time()),
        "authorizations": [{"team_id": "T0TEST", "user_id": BOT_USER_ID, "is_bot": True}],
    }


def mention(text: str) -> str:
    return f"<@{BOT_USER_ID}> {text}"
