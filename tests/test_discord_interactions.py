"""Discord's Interactions Endpoint: the Ed25519 signature on every request (Discord sends bad
ones on purpose), PING, deferred answers, what is refused. A refused request queues nothing."""

from __future__ import annotations

import json
import time

import pytest
from nacl.signing import SigningKey

from integrations.discord.parse import discord_interaction_parse
from integrations.models import Delivery
from tests.discord_support import (
    command_payload, discord_integration, post_interaction, signed_headers,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def integration(demo_bot):
    return discord_integration(demo_bot)


PING = {"id": "1", "application_id": "1100000000000000001", "type": 1, "version": 1,
        "token": "ping-token"}


def test_it_answers_a_signed_ping_with_pong(client, integration):
    response = post_interaction(client, integration, PING)
    assert response.status_code == 200 and response.json() == {"type": 1}


@pytest.mark.parametrize("change", ["other key", "tampered body", "other timestamp",
                                    "no signature", "no timestamp", "not hex", "short",
                                    "stale"])
def test_it_refuses_what_discord_did_not_sign(client, integration, change,
                                              django_capture_on_commit_callbacks):
    payload = command_payload("ask", "hello")
    body = json.dumps(payload).encode()
    headers = signed_headers(body)
    if change == "other key":
        headers = signed_headers(body, key=SigningKey.generate())
    elif change == "tampered body":
        body = body.replace(b"hello", b"HELLO")
    elif change == "other timestamp":
        headers["HTTP_X_SIGNATURE_TIMESTAMP"] = str(int(headers["HTTP_X_SIGNATURE_TIMESTAMP"]) + 1)
    elif change == "no signature":
        del headers["HTTP_X_SIGNATURE_ED25519"]
    elif change == "no timestamp":
        del headers["HTTP_X_SIGNATURE_TIMESTAMP"]
    elif change == "not hex":
        headers["HTTP_X_SIGNATURE_ED25519"] = "zz" * 64
    elif change == "short":
        headers["HTTP_X_SIGNATURE_ED25519"] = headers["HTTP_X_SIGNATURE_ED25519"][:64]
    elif change == "stale":  # correctly signed, six minutes ago: a replay
        headers = signed_headers(body, timestamp=str(int(time.time()) - 6 * 60))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = post_interaction(client, integration, body, headers=headers)
    assert response.status_code == 401
    assert callbacks == [] and not Delivery.objects.exists()


def test_a_ping_with_a_bad_signature_is_refused(client, integration):
    body = json.dumps(PING).encode()
    response = post_interaction(client, integration, body,
                                headers=signed_headers(body, key=SigningKey.generate()))
    assert response.status_code == 401


def test_an_integration_with_a_broken_public_key_refuses_everything(client, demo_bot):
    integration = discord_integration(demo_bot, public_key="not-a-key")
    assert post_interaction(client, integration, PING).status_code == 401


def test_a_command_is_deferred_at_once_and_queued_once(client, integration,
                                                       django_capture_on_commit_callbacks):
    payload = command_payload("ask", "what is a monad?")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        first = post_interaction(client, integration, payload)
        again = post_interaction(client, integration, payload)  # the same interaction replayed
    assert first.status_code == 200 and first.json() == {"type": 5}
    assert again.status_code == 200
    assert len(callbacks) == 1
    assert Delivery.objects.get().key == f"interaction:{payload['id']}"


def test_link_is_answered_privately(client, integration, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        response = post_interaction(client, integration,
                                    command_payload("link", "ABCD2345", option="code"))
    assert response.json() == {"type": 5, "data": {"flags": 64}}  # ephemeral: the code stays hidden


@pytest.mark.parametrize("payload,status,answer", [
    ({**PING, "type": 3, "data": {"custom_id": "x"}}, 200, 4),
    ({**PING, "type": 4, "data": {"name": "ask"}}, 200, 8),
    ({**PING, "type": 99}, 400, None),
    ({**PING, "type": 2}, 400, None),  # a command without data
    (["not", "an", "object"], 400, None),
], ids=["component", "autocomplete", "unknown type", "no data", "array"])
def test_other_interactions_start_nothing(client, integration, payload, status, answer,
                                          django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = post_interaction(client, integration, payload)
    assert response.status_code == status
    if answer is not None:
        assert response.json()["type"] == answer
    assert callbacks == [] and not Delivery.objects.exists()


def test_a_body_that_is_not_json_is_refused(client, integration):
    assert post_interaction(client, integration, b"{oops").status_code == 400


def test_a_disabled_integration_is_not_found(client, integration):
    integration.enabled = False
    integration.save()
    assert post_interaction(client, integration, PING).status_code == 404


def test_an_interaction_becomes_an_inbound_event():
    payload = command_payload("image", "a red fox", option="prompt", in_guild=False,
                              locale="de")
    inbound = discord_interaction_parse(7, payload)
    assert inbound is not None
    assert (inbound.command, inbound.argument, inbound.sender_name) == ("image", "a red fox", "Ada")
    assert inbound.chat_id == payload["channel_id"]
    assert inbound.reply_ref["token"] == payload["token"] and inbound.language == "de"
    assert discord_interaction_parse(7, command_payload("gpt", "hi")).command == "ask"


def test_the_view_makes_a_fixed_handful_of_queries(client, integration, django_assert_num_queries,
                                                   django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        with django_assert_num_queries(1):  # the integration; PING needs nothing else
            post_interaction(client, integration, PING)
        with django_assert_num_queries(4):  # the integration, the delivery in a savepoint
            post_interaction(client, integration, command_payload("ask", "hi"))
