"""Item 5 of issue #17 on Slack and Discord: a reply the sweep marks interrupted is edited on the
platform, through its real client library and fake, to end with the notice and /retry, keeping
the text the person saw (tests/integrations/test_interrupted_replies.py does Telegram)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from django.utils import timezone

from conversations.models import Message
from conversations.services.sweep import sweep_interrupted_replies
from conversations.worker_loop import run_on_shared_loop
from integrations.models import ReplyPost
from integrations.services.people import identity_resolve
from integrations.services.replies import messenger_message_store
from integrations.services.sink import MessengerSink
from integrations.transports.base import Target, transport_for
from tests.discord_support import (  # noqa: F401  (fixtures)
    command_payload, discord_integration, fake_discord, fake_discord_server,
)
from tests.slack_support import (  # noqa: F401  (fixtures)
    fake_slack, fake_slack_server, slack_integration,
)

pytestmark = pytest.mark.django_db(transaction=True)

PARTIAL = "Ça va bien, merci de ta"


def _reply_dies_after_showing(integration, platform: str, target: Target) -> Message:
    identity = identity_resolve(platform=platform, external_id="U0ADA", name="Ada")
    sent = messenger_message_store(integration=integration, identity=identity,
                                   chat_id=target.chat_id, text="Salut, comment ça va ?")

    async def stream_then_die() -> None:
        sink = MessengerSink(transport_for(integration), target, integration.pk,
                             reply_id=str(sent.reply.pk), language="fr")
        await sink.deliver({"kind": "delta", "text": PARTIAL})
        for _ in range(200):  # until the first message is out; then the process dies
            if await ReplyPost.objects.filter(reply_id=sent.reply.pk).aexists():
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the sink never sent the reply")

    run_on_shared_loop(stream_then_die(), timeout=20)
    Message.objects.filter(pk=sent.reply.pk).update(updated_at=timezone.now() - timedelta(hours=1))
    return sent.reply


def _swept(reply: Message) -> None:
    assert run_on_shared_loop(sweep_interrupted_replies(), timeout=30) == 1
    reply.refresh_from_db()
    assert reply.status == Message.Status.FAILED


def test_slack_reply_is_edited_with_the_notice(fake_slack, demo_bot):
    integration = slack_integration(demo_bot)
    reply = _reply_dies_after_showing(
        integration, "slack", Target("C0GENERAL", "", {"channel": "C0GENERAL", "team": "T1"}))
    [shown] = fake_slack.in_channel("C0GENERAL")
    assert shown.text.startswith(PARTIAL) and "interrompue" not in shown.text

    _swept(reply)
    [shown] = fake_slack.in_channel("C0GENERAL")  # the same message, edited
    assert shown.text.startswith(PARTIAL)
    assert "La réponse a été interrompue" in shown.text and "/retry" in shown.text
    assert shown.edits >= 1


def test_discord_reply_is_edited_with_the_notice(fake_discord, demo_bot):
    integration = discord_integration(demo_bot)
    payload = command_payload("ask", "Salut")
    fake_discord.open_interaction(payload["token"])
    target = Target(payload["channel_id"], "",
                    {"token": payload["token"], "interaction_id": payload["id"]})
    reply = _reply_dies_after_showing(integration, "discord", target)

    _swept(reply)
    [interaction] = fake_discord.interactions.values()
    shown = interaction.messages[-1].content
    assert shown.startswith(PARTIAL)
    assert "La réponse a été interrompue" in shown and "/retry" in shown
