"""The rolling summary: older turns that no longer fit the bot's window, summarised by the bot's
own model (the demo provider summarises locally) and sent in their place."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator

from django.conf import settings

from conversations.models import Conversation, Message
from conversations.providers import ChatRequest, ProviderError, Usage, backend_for
from conversations.worker_loop import run_on_shared_loop

from . import tokens
from .context import counter_for

log = logging.getLogger(__name__)

INSTRUCTIONS = (
    "You keep the memory of a conversation. Summarise the earlier summary (if any) and the "
    "turns below: facts, names, numbers, decisions, open questions and what the person wants. "
    "Write in the language of the conversation, at most {words} words, the summary only."
)


def summary_cap(window: int) -> int:
    return max(32, min(512, window // 8))


def _older_turns(conversation: Conversation) -> list[dict[str, object]]:
    """The turns after the current summary that the newest half of the budget cannot hold."""
    bot = conversation.bot
    rows = Message.objects.filter(conversation=conversation, superseded_at__isnull=True).exclude(
        content=""
    )
    if conversation.summary_through is not None:
        rows = rows.filter(created_at__gt=conversation.summary_through)
    turns = list(rows.order_by("created_at").values("role", "content", "created_at"))
    counter = counter_for(bot.model)
    room = max((bot.context_window - bot.max_output_tokens) // 2, bot.context_window // 4)
    split = len(turns)
    for index in range(len(turns) - 1, -1, -1):
        room -= counter.message(str(turns[index]["content"]))
        if room < 0:
            break
        split = index
    return turns[:split]


async def _collect(stream: AsyncIterator[str | Usage]) -> str:
    parts = []
    async for item in stream:
        if isinstance(item, str):
            parts.append(item)
    return "".join(parts)


def conversation_summarise(*, conversation_id: uuid.UUID | str) -> bool:
    """Folds the turns that no longer fit into the conversation's summary. True when it did."""
    conversation = (
        Conversation.objects.select_related("bot__provider")
        .filter(pk=conversation_id, deleted_at__isnull=True)
        .first()
    )
    if conversation is None:
        return False
    older = _older_turns(conversation)
    if not older:
        return False
    bot = conversation.bot
    counter = counter_for(bot.model)
    cap = summary_cap(bot.context_window)
    instructions = INSTRUCTIONS.format(words=cap * 3 // 4)
    transcript = "\n".join(f"{t['role']}: {' '.join(str(t['content']).split())}" for t in older)
    if conversation.summary:
        transcript = f"Earlier summary: {conversation.summary}\n{transcript}"
    room = (bot.context_window - cap - tokens.REPLY_PRIMING_TOKENS
            - counter.message(instructions) - tokens.MESSAGE_OVERHEAD_TOKENS)
    transcript = counter.keep_end(transcript, room)
    request = ChatRequest(
        model=bot.model,
        messages=[{"role": "system", "content": instructions},
                  {"role": "user", "content": transcript}],
        temperature=0.2,
        max_tokens=cap,
        purpose="summary",
    )
    try:
        text = run_on_shared_loop(
            _collect(backend_for(bot.provider).stream(request)),
            timeout=settings.CHATLAB_REPLY_TIMEOUT,
        ).strip()
    except ProviderError as exc:
        log.info("summary of %s failed: %s (%s)", conversation.pk, exc.code, exc.detail)
        return False
    if not text:
        return False
    # Only if no other summary landed meanwhile: the two would cover different turns.
    return bool(
        Conversation.objects.filter(
            pk=conversation.pk, summary_through=conversation.summary_through
        ).update(summary=text, summary_through=older[-1]["created_at"])
    )
