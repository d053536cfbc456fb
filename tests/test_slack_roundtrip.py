"""Slack end to end: a signed event or slash command in, the reply through the one generation
service, out through slack-sdk to the fake Web API, as a person in the channel would see it."""

from __future__ import annotations

import re

import pytest

from conversations.models import Message
from integrations.models import Integration
from integrations.services.inbound import inbound_wait
from integrations.slack.mrkdwn import to_mrkdwn
from tests.fakes.threaded import Fault
from tests.slack_support import (  # noqa: F401  (fixtures)
    event_payload, fake_slack, fake_slack_server, mention, post_command, post_event,
    slack_integration,
)

pytestmark = pytest.mark.django_db(transaction=True)


def reply_of(integration: Integration) -> Message:
    return Message.objects.filter(role=Message.Role.ASSISTANT,
                                  conversation__channel=integration.platform).get()


@pytest.fixture
def guest_openai_bot(openai_bot):
    # Messenger newcomers are guests, and guests talk to the default bot.
    openai_bot.is_default = True
    openai_bot.save(update_fields=["is_default"])
    return openai_bot


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text)


def test_a_mention_is_answered_in_its_thread_with_the_demo_bot(client, demo_bot, fake_slack):
    integration = slack_integration(demo_bot)
    payload = event_payload(mention("what is a *monad*?"))
    assert post_event(client, integration, payload).status_code == 200
    inbound_wait()

    reply = reply_of(integration)
    assert reply.status == Message.Status.COMPLETE and "Demo reply" in reply.content
    user_message = reply.conversation.messages.get(role=Message.Role.USER)
    assert user_message.content == "what is a *monad*?"
    [message] = fake_slack.in_channel("C0CHANNEL")
    assert message.thread_ts == payload["event"]["ts"]  # a thread under the mention
    assert message.text == to_mrkdwn(reply.content)
    assert "*Demo reply.*" in message.text  # **bold** became Slack's *bold*
    posts = fake_slack.calls_to("chat.postMessage")
    assert len(posts) == 1 and posts[0]["token"] == "xoxb-test-token"
    integration.refresh_from_db()
    assert integration.last_error == ""


def test_the_same_event_delivered_twice_gets_one_reply(client, demo_bot, fake_slack):
    integration = slack_integration(demo_bot)
    payload = event_payload("hello there", kind="message", channel="D0DIRECT")
    assert post_event(client, integration, payload).status_code == 200
    assert post_event(client, integration, payload, retry=1).status_code == 200
    inbound_wait()
    assert post_event(client, integration, payload, retry=2).status_code == 200
    inbound_wait()

    [message] = fake_slack.in_channel("D0DIRECT")
    assert message.thread_ts is None  # a direct message is answered in the conversation
    assert len(fake_slack.calls_to("chat.postMessage")) == 1
    assert Message.objects.filter(role=Message.Role.USER).count() == 1
    assert message.text == to_mrkdwn(reply_of(integration).content)


def test_a_long_openai_reply_streams_with_paced_updates_and_splits(
        client, guest_openai_bot, fake_openai, fake_slack):
    # ~6,000 characters over ~2.5 s: several updates, and two messages in the thread.
    fake_openai.configure(tokens=1000, rate=400.0)
    integration = slack_integration(guest_openai_bot)
    assert post_event(client, integration, event_payload(mention("tell me a lot"))).status_code \
        == 200
    inbound_wait()

    reply = reply_of(integration)
    assert reply.status == Message.Status.COMPLETE and reply.content.startswith("Echo: tell me")
    messages = fake_slack.in_channel("C0CHANNEL")
    assert len(messages) >= 2 and all(len(m.text) <= 4000 for m in messages)
    assert len({m.thread_ts for m in messages}) == 1
    assert words(" ".join(m.text for m in messages)) == words(reply.content)
    updates = fake_slack.calls_to("chat.update")
    assert updates, "the first message grows by edits"
    first_ts = messages[0].ts
    times = [c["time"] for c in updates if c["args"]["ts"] == first_ts]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert all(gap >= 1.1 for gap in gaps), gaps  # never faster than Slack's ~1 per second


def test_a_slash_command_is_answered_in_the_channel(client, demo_bot, fake_slack):
    integration = slack_integration(demo_bot)
    assert post_command(client, integration, "/ask", "summarise this").status_code == 200
    inbound_wait()
    [message] = fake_slack.in_channel("C0CHANNEL")
    assert message.thread_ts is None
    assert message.text == to_mrkdwn(reply_of(integration).content)


def test_new_starts_a_fresh_conversation(client, demo_bot, fake_slack):
    integration = slack_integration(demo_bot)
    post_event(client, integration, event_payload("first", kind="message", channel="D0DM"))
    inbound_wait()
    post_command(client, integration, "/new", "", channel="D0DM")
    inbound_wait()
    post_event(client, integration, event_payload("second", kind="message", channel="D0DM"))
    inbound_wait()
    conversations = {m.conversation_id for m in Message.objects.filter(role=Message.Role.USER)}
    assert len(conversations) == 2
    assert "new conversation" in fake_slack.in_channel("D0DM")[1].text


def test_a_rate_limit_is_waited_out_and_the_reply_arrives(client, demo_bot, fake_slack):
    fake_slack.fail(Fault(status=429, retry_after=1, match="chat.postMessage"))
    integration = slack_integration(demo_bot)
    post_event(client, integration, event_payload(mention("hi")))
    inbound_wait()
    posts = fake_slack.calls_to("chat.postMessage")
    assert len(posts) == 2 and posts[1]["time"] - posts[0]["time"] >= 0.95  # Retry-After: 1
    [message] = fake_slack.in_channel("C0CHANNEL")
    assert message.text == to_mrkdwn(reply_of(integration).content)
    integration.refresh_from_db()
    assert integration.last_error == ""


def test_server_errors_are_retried_then_recorded(client, demo_bot, fake_slack, settings):
    settings.CHATLAB_MESSENGER_RETRIES = 3
    fake_slack.fail(*[Fault(status=503, match="chat.postMessage")] * 3)
    integration = slack_integration(demo_bot)
    post_event(client, integration, event_payload(mention("hi")))
    inbound_wait()
    assert len(fake_slack.calls_to("chat.postMessage")) == 3
    assert fake_slack.messages == []
    integration.refresh_from_db()
    assert "503" in integration.last_error and integration.last_error_at is not None
    assert reply_of(integration).status == Message.Status.COMPLETE  # the reply itself is kept


def test_a_revoked_token_is_not_retried_and_is_recorded(client, demo_bot, fake_slack):
    fake_slack.revoked_tokens.add("xoxb-test-token")
    integration = slack_integration(demo_bot)
    post_event(client, integration, event_payload(mention("hi")))
    inbound_wait()
    assert len(fake_slack.calls_to("chat.postMessage")) == 1
    integration.refresh_from_db()
    assert integration.last_error == "Slack: token_revoked"
    assert "xoxb" not in integration.last_error


def test_a_rejected_request_sends_nothing(client, demo_bot, fake_slack):
    integration = slack_integration(demo_bot)
    post_event(client, integration, event_payload(mention("hi")), secret="not-the-secret")
    post_event(client, integration, event_payload("bot talk", kind="message", bot_id="B0X"))
    inbound_wait()
    assert fake_slack.calls == [] and not Message.objects.exists()


@pytest.fixture
def image_jobs(settings, tmp_path, monkeypatch):
    """Image jobs on a pool of this test's own, so the test can wait for them to end."""
    from concurrent.futures import ThreadPoolExecutor

    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.IMAGING_EAGER_IN_THREAD = True
    pool = ThreadPoolExecutor(max_workers=1)
    monkeypatch.setattr("imaging.services.jobs._executor", pool)
    yield pool
    pool.shutdown(wait=True)


def test_a_linked_person_gets_the_picture_in_the_thread(client, demo_bot, fake_slack, user,
                                                        image_jobs):
    from imaging.models import ImageJob, ImageModel
    from integrations.models import MessengerIdentity

    ImageModel.objects.update_or_create(slug="demo", defaults={
        "name": "Demo pictures", "model": "demo", "provider": None, "is_default": True,
        "is_active": True})
    MessengerIdentity.objects.create(platform="slack", external_id="U0PERSON", user=user)
    integration = slack_integration(demo_bot)
    post_event(client, integration, event_payload(mention("/image a red fox")))
    inbound_wait()
    image_jobs.shutdown(wait=True)  # the job ran, and its picture was handed to Slack

    job = ImageJob.objects.get()
    assert (job.owner, job.channel, job.status) == (user, "slack", ImageJob.Status.DONE)
    drawing, picture = fake_slack.in_channel("C0CHANNEL")
    assert "Drawing" in drawing.text and drawing.thread_ts == picture.thread_ts
    [uploaded] = picture.files
    upload = fake_slack.uploads[uploaded["id"]]
    assert upload["data"].startswith(b"\x89PNG") and upload["length"] == len(upload["data"])


def test_a_command_in_a_channel_without_the_bot_is_explained_to_the_asker(
        client, demo_bot, fake_slack):
    fake_slack.fail(Fault(error="not_in_channel", match="chat.postMessage"))
    integration = slack_integration(demo_bot)
    post_command(client, integration, "/ask", "hi", channel="C0ELSEWHERE",
                 response_url=fake_slack.response_url())
    inbound_wait()
    assert len(fake_slack.calls_to("chat.postMessage")) == 1  # not retried
    [notice] = fake_slack.responses
    assert notice["response_type"] == "ephemeral" and "/invite" in notice["text"]
    integration.refresh_from_db()
    assert integration.last_error == "Slack: not_in_channel"


def test_a_response_url_elsewhere_is_not_called(client, demo_bot, fake_slack):
    fake_slack.fail(Fault(error="not_in_channel", match="chat.postMessage"))
    integration = slack_integration(demo_bot)
    post_command(client, integration, "/ask", "hi", response_url="http://169.254.169.254/x")
    inbound_wait()
    assert fake_slack.responses == []
    integration.refresh_from_db()
    assert integration.last_error == "Slack: not_in_channel"
