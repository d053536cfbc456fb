"""A tab that (re)connects while a reply is active is shown its stored state at once, and a
reply whose process died is marked interrupted within the stale limit plus a few seconds,
without waiting for celery beat (issue #17, item 4)."""

from __future__ import annotations

import time

import pytest
from asgiref.sync import sync_to_async
from django.core.cache import cache

from conversations.models import Message
from conversations.services.generation import INTERRUPTED, checkpoint_key
from conversations.services.messages import message_send
from tests.test_consumer import connect, frames_until

pytestmark = pytest.mark.django_db(transaction=True)

STALE = 5  # the smallest CHATLAB_STALE_REPLY_SECONDS allowed


async def _orphan(user, settings) -> Message:
    """A streaming reply whose writer died after its readers saw some text (in the cache)."""
    sent = await sync_to_async(message_send)(user=user, content="the writer dies",
                                             reply_status=Message.Status.STREAMING)
    await cache.aset(checkpoint_key(sent.reply.pk), "Echo: the writer dies lorem", 60)
    return sent.reply


async def test_a_reconnecting_tab_gets_the_stored_text_at_once(user, demo_bot, settings):
    settings.CHATLAB_CHECKPOINTS = "cache"
    reply = await _orphan(user, settings)
    comm = await connect(user, path=f"/ws/chat/{reply.conversation_id}/")
    assert (await comm.connect())[0]
    started = time.monotonic()
    frames = await frames_until(comm, lambda f: f.get("type") == "message", timeout=2)
    assert time.monotonic() - started < 1
    shown = frames[-1]["message"]
    assert shown["id"] == str(reply.pk) and shown["status"] == "streaming"
    assert shown["content"] == "Echo: the writer dies lorem"
    await comm.disconnect()


async def test_an_orphaned_reply_is_marked_within_the_stale_limit_and_the_tab_told(
    user, demo_bot, settings
):
    settings.CHATLAB_CHECKPOINTS = "cache"
    settings.CHATLAB_STALE_REPLY_SECONDS = STALE
    reply = await _orphan(user, settings)
    created = time.monotonic()
    comm = await connect(user, path=f"/ws/chat/{reply.conversation_id}/")
    assert (await comm.connect())[0]
    frames = await frames_until(comm, lambda f: f.get("type") == "done", timeout=STALE + 6)
    # Stale limit, one sweep period (max(1, stale / 4)) and the liveness ping's 2 s wait.
    assert time.monotonic() - created <= STALE + 1.25 + 2 + 1
    assert frames[-1]["status"] == "failed" and frames[-1]["error"] == INTERRUPTED
    stored = await Message.objects.aget(pk=reply.pk)
    assert stored.status == "failed" and stored.content == "Echo: the writer dies lorem"
    await comm.disconnect()
