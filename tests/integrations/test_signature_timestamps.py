"""Item 9 of issue #17: a signature timestamp that is a digit to str.isdigit() but not to int()
(superscripts, other scripts' digits) is refused like any bad signature, never a 500."""

from __future__ import annotations

import json

import pytest

from integrations.models import Delivery
from tests.discord_support import command_payload, discord_integration, post_interaction
from tests.slack_support import event_payload, mention, post_event, slack_integration

pytestmark = pytest.mark.django_db

NOT_ASCII_DIGITS = ["²", "1²", "١٧٠٠٠٠٠٠٠٠", "１７００００００００"]


@pytest.mark.parametrize("timestamp", NOT_ASCII_DIGITS)
def test_slack_refuses_a_timestamp_of_other_digits(client, demo_bot, timestamp):
    integration = slack_integration(demo_bot)
    body = json.dumps(event_payload(mention("hello"))).encode()
    response = post_event(client, integration, body, headers={
        "HTTP_X_SLACK_REQUEST_TIMESTAMP": timestamp, "HTTP_X_SLACK_SIGNATURE": "v0=" + "0" * 64})
    assert response.status_code == 401
    assert not Delivery.objects.exists()


@pytest.mark.parametrize("timestamp", NOT_ASCII_DIGITS)
def test_discord_refuses_a_timestamp_of_other_digits(client, demo_bot, timestamp):
    integration = discord_integration(demo_bot)
    body = json.dumps(command_payload("ask", "hello")).encode()
    response = post_interaction(client, integration, body, headers={
        "HTTP_X_SIGNATURE_ED25519": "00" * 64, "HTTP_X_SIGNATURE_TIMESTAMP": timestamp})
    assert response.status_code == 401
    assert not Delivery.objects.exists()
