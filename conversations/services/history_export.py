"""Exports: Chatlab's own JSON (versioned and lossless: importing it and exporting again gives
the same bytes) and Markdown for reading.

The JSON holds no database ids: a reply points at the message it answers by its position in the
conversation, so an import never has to trust (or collide with) ids from a file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db.models import Prefetch

from accounts.models import User
from conversations import selectors
from conversations.models import Conversation, Message

FORMAT = "chatlab"
VERSION = 1

MESSAGE_FIELDS = ("role", "content", "status", "error", "model", "prompt_tokens",
                  "completion_tokens", "ttft_ms", "total_ms")
# Written only where the reply has them, so files of replies without reasoning stay as they
# were, and importing a file and exporting it again still gives the same bytes.
REASONING_FIELDS = ("reasoning", "reasoning_ms", "reasoning_tokens")


def _reasoning(m: Message) -> dict[str, Any]:
    return {name: getattr(m, name) for name in REASONING_FIELDS
            if getattr(m, name) not in ("", None)}


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _ordered_messages() -> Prefetch:
    return Prefetch("messages", queryset=Message.objects.order_by("created_at", "id"))


def exportable(user: User, conversation_id: object = None) -> list[Conversation]:
    """One conversation (or all outside the trash) with their messages, in two queries."""
    conversations = selectors.conversations_for(user).order_by("created_at", "id")
    if conversation_id is not None:
        try:
            conversations = conversations.filter(pk=conversation_id)
        except (ValueError, TypeError):
            return []
    return list(conversations.prefetch_related(_ordered_messages()))


def conversation_data(conversation: Conversation) -> dict[str, Any]:
    messages = list(conversation.messages.all())
    position = {m.pk: index for index, m in enumerate(messages)}
    return {
        "title": conversation.title,
        "bot": conversation.bot.slug,
        "created_at": _when(conversation.created_at),
        "updated_at": _when(conversation.updated_at),
        "pinned_at": _when(conversation.pinned_at),
        "archived_at": _when(conversation.archived_at),
        "summary": conversation.summary,
        "summary_through": _when(conversation.summary_through),
        "messages": [
            {
                **{name: getattr(m, name) for name in MESSAGE_FIELDS},
                **_reasoning(m),
                "reply_to": position.get(m.reply_to_id) if m.reply_to_id else None,
                "superseded_at": _when(m.superseded_at),
                "created_at": _when(m.created_at),
            }
            for m in messages
        ],
    }


def export_json(conversations: Iterable[Conversation]) -> str:
    data = {
        "format": FORMAT,
        "version": VERSION,
        "conversations": [conversation_data(c) for c in conversations],
    }
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


def export_markdown(conversations: Iterable[Conversation]) -> str:
    parts = []
    for conversation in conversations:
        lines = [f"# {conversation.title or 'Untitled'}", "",
                 f"*{conversation.bot.name} · {conversation.created_at:%Y-%m-%d %H:%M} UTC*", ""]
        for m in conversation.messages.all():
            who = "You" if m.role == Message.Role.USER else conversation.bot.name
            if m.superseded_at:
                who += " (previous version)"
            lines += [f"**{who}:**", ""]
            if m.reasoning:
                lines += [_quoted_reasoning(m.reasoning), ""]
            lines += [m.content or f"*({m.status})*", ""]
        parts.append("\n".join(lines))
    return "\n---\n\n".join(parts)


def _quoted_reasoning(reasoning: str) -> str:
    """The model's reasoning as a quote above its answer: readers skip it, as the web folds it."""
    body = "\n".join(f"> {line}".rstrip() for line in reasoning.splitlines())
    return f"> *Thinking:*\n>\n{body}"
