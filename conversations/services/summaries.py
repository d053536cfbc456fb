"""The rolling summary: older turns that no longer fit the bot's window, summarised by the bot's
own model (the demo provider summarises locally) and sent in their place."""

from __future__ import annotations

import logging
import uuid

from django.conf import settings

from conversations.models import Conversation, Message, Provider
from conversations.providers import ChatRequest, ProviderError, backend_for
from conversations.providers.capabilities import bot_capabilities
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


async def _collect(provider: Provider, request: ChatRequest) -> str:
    # The backend is made on the loop that runs it: its client belongs to that loop.
    parts = []
    async for item in backend_for(provider).stream(request):
        if isinstance(item, str):
            parts.append(item)
    return "".join(parts)


def conversation_summarise(*, conversation_id: uuid.UUID | str, max_rounds: int = 8) -> bool:
    """Folds the turns that no longer fit into the conversation's summary, oldest first, as many
    model calls as it takes (at most ``max_rounds``). True when the summary moved on."""
    moved = False
    for _ in range(max_rounds):
        step = _summarise_once(conversation_id)
        if step is None:
            break
        moved = moved or step
        if not step:
            break
    return moved


def _summarise_once(conversation_id: uuid.UUID | str) -> bool | None:
    """One model call over the oldest turns that fit it. None: nothing (left) to summarise."""
    conversation = (
        Conversation.objects.select_related("bot__provider")
        .filter(pk=conversation_id, deleted_at__isnull=True)
        .first()
    )
    if conversation is None:
        return None
    older = _older_turns(conversation)
    if not older:
        return None
    bot = conversation.bot
    counter = counter_for(bot.model)
    cap = summary_cap(bot.context_window)
    instructions = INSTRUCTIONS.format(words=cap * 3 // 4)
    room = (bot.context_window - cap - tokens.REPLY_PRIMING_TOKENS
            - counter.message(instructions) - tokens.MESSAGE_OVERHEAD_TOKENS)
    lines = [f"Earlier summary: {conversation.summary}"] if conversation.summary else []
    room -= counter.count("\n".join(lines)) + 1
    taken = []
    for turn in older:  # the oldest turns that fit this call; the next call takes the rest
        line = f"{turn['role']}: {' '.join(str(turn['content']).split())}"
        cost = counter.count(line) + 1
        if cost > room:
            if not taken:  # one turn larger than the call: its start stands for it
                line = counter.keep_start(line, room - 1)
                taken.append(turn)
                lines.append(line)
            break
        room -= cost
        taken.append(turn)
        lines.append(line)
    request = ChatRequest(
        model=bot.model,
        messages=[{"role": "system", "content": instructions},
                  {"role": "user", "content": "\n".join(lines)}],
        temperature=0.2,
        max_tokens=cap,
        purpose="summary",
        capabilities=bot_capabilities(bot),
        bot_id=bot.pk,
    )
    try:
        text = run_on_shared_loop(
            _collect(bot.provider, request),
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
        ).update(summary=text, summary_through=taken[-1]["created_at"])
    )
