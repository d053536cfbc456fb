"""Discord end to end: a signed slash command in, the reply through the one generation service,
out through httpx to the fake API: the deferred response edited as the answer grows, longer
answers in follow-up messages, failures recorded on the integration."""

from __future__ import annotations

import re

import pytest
from nacl.signing import SigningKey

from conversations.models import Message
from integrations.discord.transport import DiscordTransport
from integrations.models import Integration
from integrations.services.inbound import inbound_wait
from integrations.transports.base import Target
from tests.discord_support import (  # noqa: F401  (fixtures)
    command_payload, discord_integration, fake_discord, fake_discord_server, post_command,
    post_interaction,
)
from tests.fakes.threaded import Fault

pytestmark = pytest.mark.django_db(transaction=True)


def reply_of(integration: Integration) -> Message:
    return Message.objects.filter(role=Message.Role.ASSISTANT,
                                  conversation__channel=integration.platform).get()


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text)


@pytest.fixture
def guest_openai_bot(openai_bot):
    openai_bot.is_default = True  # messenger newcomers are guests: they get the default bot
    openai_bot.save(update_fields=["is_default"])
    return openai_bot


def test_ask_edits_the_deferred_response_with_the_demo_reply(client, demo_bot, fake_discord):
    integration = discord_integration(demo_bot)
    payload, response = post_command(client, integration, fake_discord, "ask", "what is a monad?")
    assert response.json() == {"type": 5}
    inbound_wait()

    reply = reply_of(integration)
    assert reply.status == Message.Status.COMPLETE and "Demo reply" in reply.content
    assert reply.conversation.messages.get(role=Message.Role.USER).content == "what is a monad?"
    interaction = fake_discord.interactions[payload["token"]]
    assert interaction.original.content == reply.content  # Discord renders the markdown itself
    assert interaction.followups == []
    assert interaction.original.allowed_mentions == {"parse": []}  # a reply never pings
    edits = fake_discord.calls_to("edit")
    assert edits[0]["path"].endswith("/messages/@original")  # the deferred response, then by id
    assert all(c["path"].endswith(("/@original", "/" + interaction.original.id)) for c in edits)
    assert all(c["authorization"] is None for c in edits)  # the token in the path suffices
    integration.refresh_from_db()
    assert integration.last_error == ""


def test_the_same_interaction_delivered_twice_gets_one_answer(client, demo_bot, fake_discord):
    integration = discord_integration(demo_bot)
    payload, _ = post_command(client, integration, fake_discord, "ask", "hello")
    assert post_interaction(client, integration, payload).status_code == 200
    inbound_wait()
    assert Message.objects.filter(role=Message.Role.USER).count() == 1
    interaction = fake_discord.interactions[payload["token"]]
    assert interaction.original.content == reply_of(integration).content
    assert interaction.followups == []


def test_a_long_openai_reply_streams_and_continues_in_follow_ups(
        client, guest_openai_bot, fake_openai, fake_discord):
    fake_openai.configure(tokens=700, rate=300.0)  # ~4,200 characters over ~2.3 s
    integration = discord_integration(guest_openai_bot)
    payload, _ = post_command(client, integration, fake_discord, "ask", "tell me a lot")
    inbound_wait()

    reply = reply_of(integration)
    assert reply.status == Message.Status.COMPLETE and reply.content.startswith("Echo: tell me")
    interaction = fake_discord.interactions[payload["token"]]
    messages = interaction.messages
    assert len(messages) >= 3 and all(len(m.content) <= 2000 for m in messages)
    assert "".join(m.content for m in messages) == reply.content
    original_edits = [c["time"] for c in fake_discord.calls_to("edit")
                      if c["path"].endswith(("/@original", "/" + interaction.original.id))]
    assert len(original_edits) >= 2
    gaps = [b - a for a, b in zip(original_edits, original_edits[1:])]
    assert all(gap >= 0.9 for gap in gaps), gaps  # about one edit a second, not per token


def test_a_rate_limit_is_waited_out(client, demo_bot, fake_discord):
    fake_discord.fail(Fault(status=429, retry_after=0.5, match="edit"))
    integration = discord_integration(demo_bot)
    payload, _ = post_command(client, integration, fake_discord, "ask", "hi")
    inbound_wait()
    edits = fake_discord.calls_to("edit")
    assert len(edits) >= 2 and edits[1]["time"] - edits[0]["time"] >= 0.45
    assert fake_discord.interactions[payload["token"]].original.content == \
        reply_of(integration).content
    integration.refresh_from_db()
    assert integration.last_error == ""


def test_server_errors_are_retried_then_recorded(client, demo_bot, fake_discord, settings):
    settings.CHATLAB_MESSENGER_RETRIES = 2
    fake_discord.fail(*[Fault(status=502, match="edit")] * 2)
    integration = discord_integration(demo_bot)
    payload, _ = post_command(client, integration, fake_discord, "ask", "hi")
    inbound_wait()
    assert len(fake_discord.calls_to("edit")) == 2
    assert fake_discord.interactions[payload["token"]].original.content == ""
    integration.refresh_from_db()
    assert "502" in integration.last_error and integration.last_error_at is not None


def test_an_expired_interaction_is_not_retried_and_is_recorded(client, demo_bot, fake_discord):
    integration = discord_integration(demo_bot)
    payload, _ = post_command(client, integration, fake_discord, "ask", "hi")
    # (post_command opened the interaction; this one Discord no longer knows)
    fake_discord.interactions.clear()
    inbound_wait()
    assert len(fake_discord.calls_to("edit")) == 1
    integration.refresh_from_db()
    assert "Unknown Webhook" in integration.last_error
    assert payload["token"] not in integration.last_error


def test_new_answers_in_the_deferred_response(client, demo_bot, fake_discord):
    integration = discord_integration(demo_bot)
    payload, _ = post_command(client, integration, fake_discord, "new")
    inbound_wait()
    assert "new conversation" in fake_discord.interactions[payload["token"]].original.content


def test_a_refused_request_sends_nothing(client, demo_bot, fake_discord):
    integration = discord_integration(demo_bot)
    post_command(client, integration, fake_discord, "ask", "hi")
    inbound_wait()
    fake_discord.reset()
    response = post_interaction(client, integration, command_payload("ask", "again"),
                                key=SigningKey.generate())
    inbound_wait()
    assert response.status_code == 401 and fake_discord.calls == []
    assert Message.objects.filter(role=Message.Role.USER).count() == 1


async def test_a_picture_goes_as_an_attachment_after_the_answer(demo_bot, fake_discord):
    integration = await Integration.objects.acreate(
        platform="discord", name="d", bot=demo_bot, credentials="")
    integration.set_credentials(application_id="1100000000000000001", bot_token="t" * 10)
    await integration.asave()
    transport = DiscordTransport(integration)
    fake_discord.open_interaction("tok-1")
    target = Target("1300", reply_ref={"token": "tok-1"})
    ref = await transport.send(target, "Drawing it…")
    await transport.send_image(target, b"\x89PNG fake", "fox.png", "a red fox")
    interaction = fake_discord.interactions["tok-1"]
    assert ref == interaction.original.id and interaction.original.content == "Drawing it…"
    [followup] = interaction.followups
    assert followup.content == "a red fox"
    assert followup.attachments == [{"filename": "fox.png", "size": 9, "data": b"\x89PNG fake"}]


def test_image_for_a_linked_person_arrives_as_a_follow_up(client, demo_bot, fake_discord, user,
                                                          settings, tmp_path, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    from imaging.models import ImageJob, ImageModel
    from integrations.models import MessengerIdentity

    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.IMAGING_EAGER_IN_THREAD = True
    pool = ThreadPoolExecutor(max_workers=1)  # the test's own, so it can wait for the job
    monkeypatch.setattr("imaging.services.jobs._executor", pool)
    ImageModel.objects.update_or_create(slug="demo", defaults={
        "name": "Demo pictures", "model": "demo", "provider": None, "is_default": True,
        "is_active": True})
    MessengerIdentity.objects.create(platform="discord", external_id="1400000000000000001",
                                     user=user)
    integration = discord_integration(demo_bot)
    payload, _ = post_command(client, integration, fake_discord, "image", "a red fox",
                              option="prompt")
    inbound_wait()
    pool.shutdown(wait=True)

    assert ImageJob.objects.get().status == ImageJob.Status.DONE
    interaction = fake_discord.interactions[payload["token"]]
    assert "Drawing" in interaction.original.content
    [followup] = interaction.followups
    [attachment] = followup.attachments
    assert attachment["data"].startswith(b"\x89PNG") and followup.content == "a red fox"
