"""Shared by the Discord tests: the fake HTTP API, integrations with a test Ed25519 key pair, and
interactions signed the way Discord signs them."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from nacl.signing import SigningKey

from integrations.models import Integration, Platform
from tests.fakes.discord_server import APPLICATION_ID, FakeDiscord

SIGNING_KEY = SigningKey.generate()  # stands in for Discord's private key
PUBLIC_KEY = SIGNING_KEY.verify_key.encode().hex()
BOT_TOKEN = "discord-bot-token"
_ids = itertools.count(1)


@pytest.fixture(scope="session")
def fake_discord_server() -> Iterator[FakeDiscord]:
    with FakeDiscord() as fake:
        yield fake


@pytest.fixture
def fake_discord(fake_discord_server: FakeDiscord, settings) -> Iterator[FakeDiscord]:
    fake_discord_server.reset()
    fake_discord_server.public_key = PUBLIC_KEY
    settings.CHATLAB_DISCORD_API_URL = fake_discord_server.api_url
    settings.CHATLAB_MESSENGER_MAX_RETRY_AFTER = 2.0
    yield fake_discord_server
    fake_discord_server.reset()


def discord_integration(bot: Any, **credentials: str) -> Integration:
    integration = Integration(platform=Platform.DISCORD, name="Discord test", bot=bot)
    integration.set_credentials(**{"application_id": APPLICATION_ID, "public_key": PUBLIC_KEY,
                                   "bot_token": BOT_TOKEN, **credentials})
    integration.save()
    return integration


def signed_headers(body: bytes, *, key: SigningKey = SIGNING_KEY,
                   timestamp: str | None = None) -> dict[str, str]:
    ts = timestamp or str(int(time.time()))
    signature = key.sign(ts.encode() + body).signature.hex()
    return {"HTTP_X_SIGNATURE_ED25519": signature, "HTTP_X_SIGNATURE_TIMESTAMP": ts}


def post_interaction(client: Client, integration: Integration, payload: dict[str, Any] | bytes,
                     *, headers: dict[str, str] | None = None, **sign: Any):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    extra = signed_headers(body, **sign) if headers is None else headers
    return client.post(f"/integrations/discord/{integration.pk}/", body,
                       content_type="application/json", **extra)


def command_payload(name: str, value: str | None = None, *, option: str = "question",
                    channel: str = "1300000000000000001", user_id: str = "1400000000000000001",
                    in_guild: bool = True, locale: str = "en-US", **extra: Any) -> dict[str, Any]:
    n = next(_ids)
    data: dict[str, Any] = {"id": f"15{n:017d}", "name": name, "type": 1}
    if value is not None:
        data["options"] = [{"name": option, "type": 3, "value": value}]
    user = {"id": user_id, "username": "ada", "global_name": "Ada", "discriminator": "0"}
    payload: dict[str, Any] = {
        "id": f"16{n:017d}", "application_id": APPLICATION_ID, "type": 2, "data": data,
        "channel_id": channel, "channel": {"id": channel, "type": 0 if in_guild else 1},
        "token": f"aW50ZXJhY3Rpb246{n:08d}:fake-interaction-token", "version": 1,
        "locale": locale, "app_permissions": "0", "entitlements": [],
    }
    if in_guild:
        payload.update(guild_id="1200000000000000001",
                       member={"user": user, "roles": [], "nick": None})
    else:
        payload["user"] = user
    return {**payload, **extra}


def post_command(client: Client, integration: Integration, fake: FakeDiscord, name: str,
                 value: str | None = None, **kwargs: Any):
    """Posts the interaction. Discord knows it before it sends it, and shows the deferred
    response as a 'thinking' message the answer edits: the fake opens it first, so the answer
    (which may start before the test client returns) finds it."""
    payload = command_payload(name, value, **kwargs)
    fake.open_interaction(payload["token"])
    return payload, post_interaction(client, integration, payload)
