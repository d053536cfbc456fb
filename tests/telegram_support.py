"""Fixtures and helpers for the Telegram tests: the fake Bot API, an integration pointed at it,
and updates shaped as Telegram sends them."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from integrations.models import Integration, Platform
from integrations.services.inbound import inbound_wait
from tests.fakes.telegram_server import BOT_ID, TOKEN, USERNAME, FakeTelegram

SECRET_HEADER = "HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN"
_update_ids = itertools.count(500_000)


@pytest.fixture(scope="session")
def fake_telegram_server() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture
def fake_telegram(fake_telegram_server: FakeTelegram, settings: Any) -> Iterator[FakeTelegram]:
    fake_telegram_server.reset()
    settings.CHATLAB_TELEGRAM_API_URL = fake_telegram_server.url
    settings.CHATLAB_TELEGRAM_EDIT_INTERVAL = 0.2
    yield fake_telegram_server
    inbound_wait()
    fake_telegram_server.reset()
    _close_handler_connections()


def _close_handler_connections() -> None:
    """The handlings' database work ran on asgiref's sync thread behind the shared loop; its
    connection would keep the test database open after the run."""
    from asgiref.sync import sync_to_async
    from django.db import connections

    from conversations.worker_loop import run_on_shared_loop

    run_on_shared_loop(sync_to_async(connections.close_all)(), timeout=10)


@pytest.fixture
def telegram(fake_telegram: FakeTelegram, demo_bot: Any) -> Integration:
    integration = Integration(platform=Platform.TELEGRAM, name="Test", bot=demo_bot,
                              account_name=USERNAME)
    integration.set_credentials(token=TOKEN)
    integration.save()
    return integration


def message_update(text: str, *, user_id: int = 4242, chat_id: int | None = None,
                   chat_type: str = "private", update_id: int | None = None,
                   reply_to_bot: bool = False, first_name: str = "Ada",
                   language: str = "en") -> dict[str, Any]:
    chat = chat_id if chat_id is not None else (user_id if chat_type == "private" else -100123)
    message: dict[str, Any] = {
        "message_id": next(_update_ids),
        "date": 1_700_000_000,
        "chat": {"id": chat, "type": chat_type, **({"title": "Group"} if chat < 0 else {})},
        "from": {"id": user_id, "is_bot": False, "first_name": first_name,
                 "language_code": language},
        "text": text,
    }
    if reply_to_bot:
        message["reply_to_message"] = {
            "message_id": 7, "date": 1_700_000_000, "chat": message["chat"], "text": "earlier",
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "Chatlab",
                     "username": USERNAME},
        }
    return {"update_id": update_id if update_id is not None else next(_update_ids),
            "message": message}


def post_update(client: Client, integration: Integration, update: Any, *,
                secret: str | None = None, wait: bool = True) -> Any:
    body = update if isinstance(update, (str, bytes)) else json.dumps(update)
    headers = {} if secret == "" else {
        SECRET_HEADER: integration.webhook_secret if secret is None else secret}
    response = client.post(f"/integrations/telegram/{integration.pk}/", body,
                           content_type="application/json", **headers)
    if wait:
        inbound_wait()
    return response
