"""Slack's Request URL: signatures, the replay window, url_verification, retries, what is
answered and what is ignored. A refused or ignored request queues no handling at all."""

from __future__ import annotations

import json
import time

import pytest

from integrations.models import Delivery
from integrations.slack.parse import slack_text_plain
from tests.fakes.slack_server import BOT_USER_ID
from tests.slack_support import (
    event_payload, mention, post_command, post_event, signature_headers, slack_integration,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def integration(demo_bot):
    return slack_integration(demo_bot)


def queued(callbacks) -> int:
    return len(callbacks)


def test_it_answers_url_verification_with_the_challenge(client, integration):
    payload = {"token": "x", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
               "type": "url_verification"}
    response = post_event(client, integration, payload)
    assert response.status_code == 200
    assert response.json() == {"challenge": payload["challenge"]}


@pytest.mark.parametrize("change", ["wrong secret", "stale", "future", "no signature",
                                    "no timestamp", "not a number", "tampered body"])
def test_it_refuses_a_request_not_signed_by_slack(client, integration, change,
                                                  django_capture_on_commit_callbacks):
    payload = event_payload(mention("hello"))
    body = json.dumps(payload).encode()
    headers = signature_headers(body)
    if change == "wrong secret":
        headers = signature_headers(body, secret="another-apps-signing-secret")
    elif change == "stale":  # a captured request replayed six minutes later
        headers = signature_headers(body, timestamp=int(time.time()) - 6 * 60)
    elif change == "future":
        headers = signature_headers(body, timestamp=int(time.time()) + 6 * 60)
    elif change == "no signature":
        del headers["HTTP_X_SLACK_SIGNATURE"]
    elif change == "no timestamp":
        del headers["HTTP_X_SLACK_REQUEST_TIMESTAMP"]
    elif change == "not a number":
        headers["HTTP_X_SLACK_REQUEST_TIMESTAMP"] = "soon"
    elif change == "tampered body":
        body = body.replace(b"hello", b"HELLO")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = post_event(client, integration, body, headers=headers)
    assert response.status_code == 401
    assert queued(callbacks) == 0 and not Delivery.objects.exists()


def test_it_refuses_url_verification_without_a_signature(client, integration):
    body = json.dumps({"type": "url_verification", "challenge": "c"}).encode()
    response = post_event(client, integration, body, headers={})
    assert response.status_code == 401 and b"challenge" not in response.content


def test_a_signature_within_the_window_is_accepted(client, integration,
                                                   django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = post_event(client, integration, event_payload(mention("hi")),
                              timestamp=int(time.time()) - 4 * 60)
    assert response.status_code == 200 and queued(callbacks) == 1


def test_a_retried_event_is_accepted_once(client, integration,
                                          django_capture_on_commit_callbacks):
    payload = event_payload(mention("what is a monad?"))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        first = post_event(client, integration, payload)
        again = post_event(client, integration, payload, retry=1)
        third = post_event(client, integration, payload, retry=2)
    assert [r.status_code for r in (first, again, third)] == [200, 200, 200]
    assert queued(callbacks) == 1
    assert list(Delivery.objects.values_list("key", flat=True)) == [
        f"event:{payload['event_id']}"]


@pytest.mark.parametrize("payload", [
    event_payload("a channel message", kind="message", channel_type="channel"),
    event_payload("edited", kind="message", subtype="message_changed"),
    event_payload("from a bot", kind="message", bot_id="B0OTHER"),
    event_payload("our own answer", kind="message", user=BOT_USER_ID),
    event_payload(mention("another bot"), bot_id="B0OTHER"),
    event_payload("", kind="reaction_added"),
    {"type": "event_callback", "event_id": "Ev1", "event": "not an object"},
    {"type": "app_rate_limited", "minute_rate_limited": 1518467820},
    ["not", "an", "object"],
], ids=["channel message", "edit", "bot", "ourselves", "bot mention", "reaction", "bad event",
        "rate limited notice", "array"])
def test_what_the_bot_does_not_answer_is_acknowledged_and_ignored(
        client, integration, payload, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = post_event(client, integration, payload)
    assert response.status_code == 200
    assert queued(callbacks) == 0 and not Delivery.objects.exists()


def test_a_body_that_is_not_json_is_refused(client, integration,
                                            django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = post_event(client, integration, b"{not json")
    assert response.status_code == 400 and queued(callbacks) == 0


def test_a_disabled_or_unknown_integration_is_not_found(client, integration):
    body = json.dumps(event_payload(mention("hi"))).encode()
    integration.enabled = False
    integration.save()
    assert post_event(client, integration, body).status_code == 404
    integration.pk = 999_999
    assert post_event(client, integration, body).status_code == 404


def test_only_post_is_allowed(client, integration):
    assert client.get(f"/integrations/slack/{integration.pk}/").status_code == 405


def test_a_slash_command_is_acknowledged_at_once_and_queued(
        client, integration, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = post_command(client, integration, "/ask", "what is &lt;b&gt;?")
    assert response.status_code == 200 and response.content == b""
    assert queued(callbacks) == 1
    assert Delivery.objects.get().key.startswith("command:")


def test_a_slash_command_with_a_bad_signature_is_refused(
        client, integration, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = post_command(client, integration, "/new", "", secret="wrong-secret")
    assert response.status_code == 401 and queued(callbacks) == 0


def test_slack_markup_becomes_what_the_person_typed():
    text = (f"<@{BOT_USER_ID}> compare <https://example.com|example.com> and "
            "<https://x.org/a|the docs> with <@U0OTHER> in <#C0123|general> &lt;b&gt; &amp; "
            "<!here>")
    assert slack_text_plain(text, bot_user_id=BOT_USER_ID) == (
        "compare https://example.com and the docs (https://x.org/a) with @U0OTHER in "
        "#general <b> & @here")


def test_the_view_makes_a_fixed_handful_of_queries(client, integration, django_assert_num_queries,
                                                   django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        with django_assert_num_queries(1):  # the integration; a bad signature stops there
            post_event(client, integration, event_payload(mention("hi")), secret="wrong")
        with django_assert_num_queries(4):  # the integration, the delivery in a savepoint
            post_event(client, integration, event_payload(mention("hi")))
