"""Titles: a conversation starts titled with its first message (cleaned, so in the person's own
language); once the first exchange is complete, the bot's own model may write a short title in
the conversation's language instead (the demo bot keeps the first-message title). A title the
person chose is never replaced."""

from __future__ import annotations

import logging
import re
import uuid

from django.conf import settings
from django.db import transaction

from conversations.models import Conversation, Message, Provider
from conversations.providers import ChatRequest, ProviderError
from conversations.providers.capabilities import bot_capabilities
from conversations.worker_loop import run_on_shared_loop

from .background import run_soon
from .messages import TITLE_CHARS, _title_from
from .summaries import _collect

log = logging.getLogger(__name__)

INSTRUCTIONS = (
    "Write a title of at most six words for the conversation below, in the language the person "
    "writes in. Answer with the title only: no quotes, no full stop."
)
EXCHANGE_CHARS = 1500


def is_automatic(title: str, first_message: str) -> bool:
    return title == _title_from(first_message)


def clean_title(text: str) -> str:
    line = next((l for l in text.strip().splitlines() if l.strip()), "")
    line = re.sub(r"^(title|titel|titre|título)\s*:\s*", "", line.strip(), flags=re.IGNORECASE)
    line = line.strip(" \t\"'“”«»*#`.")
    return _title_from(line)[:TITLE_CHARS]


def request_title(conversation_id: object) -> None:
    """Queues a title for the conversation (Celery queue `chat`) after this transaction."""
    from conversations.tasks import title_conversation

    transaction.on_commit(
        lambda: run_soon(title_conversation, str(conversation_id), queue="chat"))


def conversation_title(*, conversation_id: uuid.UUID | str) -> str | None:
    """The new title, or None when it was left alone (renamed by the person, exchange not
    complete, the demo bot, or the model failing)."""
    conversation = (
        Conversation.objects.select_related("bot__provider").filter(pk=conversation_id).first()
    )
    if conversation is None:
        return None
    first = list(
        conversation.messages.filter(superseded_at__isnull=True)
        .order_by("created_at")
        .values("role", "content", "status")[:2]
    )
    if (len(first) < 2 or first[0]["role"] != Message.Role.USER
            or first[1]["status"] != Message.Status.COMPLETE or not first[1]["content"]):
        return None
    if not is_automatic(conversation.title, first[0]["content"]):
        return None
    bot = conversation.bot
    if bot.provider.kind == Provider.Kind.DEMO:
        return None  # the first message's title stands: the demo bot writes no real text
    exchange = (f"Person: {first[0]['content'][:EXCHANGE_CHARS]}\n"
                f"Assistant: {first[1]['content'][:EXCHANGE_CHARS]}")
    request = ChatRequest(
        model=bot.model,
        messages=[{"role": "system", "content": INSTRUCTIONS},
                  {"role": "user", "content": exchange}],
        temperature=0.3, max_tokens=24, purpose="title",
        capabilities=bot_capabilities(bot), bot_id=bot.pk,
    )
    try:
        title = clean_title(run_on_shared_loop(_collect(bot.provider, request),
                                               timeout=settings.CHATLAB_REPLY_TIMEOUT))
    except ProviderError as exc:
        log.info("title of %s failed: %s (%s)", conversation.pk, exc.code, exc.detail)
        return None
    if not title:
        return None
    # Not over a rename that landed meanwhile.
    changed = Conversation.objects.filter(pk=conversation.pk, title=conversation.title).update(
        title=title)
    return title if changed else None
