"""Exports: Chatlab's own JSON (versioned and lossless: importing it and exporting again gives
the same bytes) and Markdown for reading.

The JSON holds no database ids: a reply points at the message it answers by its position in the
conversation, so an import never has to trust (or collide with) ids from a file.

Both are written as a stream of text pieces, a chunk of conversations at a time with their
messages read through a cursor, so an export's memory does not grow with the history's size
(issue #20: building it whole took ~7.5 KB per message).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from itertools import groupby, islice
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from accounts.models import User
from conversations import selectors
from conversations.models import Conversation, Message

FORMAT = "chatlab"
VERSION = 1
CONVERSATIONS_PER_CHUNK = 100
MESSAGES_PER_FETCH = 2000
MESSAGES_PER_DUMP = 200

MESSAGE_FIELDS = ("role", "content", "status", "error", "model", "prompt_tokens",
                  "completion_tokens", "ttft_ms", "total_ms")
# Written only where the reply has them, so files of replies without reasoning stay as they
# were, and importing a file and exporting it again still gives the same bytes.
REASONING_FIELDS = ("reasoning", "reasoning_ms", "reasoning_tokens")


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def exportable(user: User, conversation_id: object = None) -> QuerySet[Conversation]:
    """One conversation (or all outside the trash), oldest first; read lazily by the exports."""
    conversations = selectors.conversations_for(user).order_by("created_at", "id")
    if conversation_id is not None:
        try:
            conversations = conversations.filter(pk=conversation_id)
        except (ValueError, TypeError, ValidationError):
            return conversations.none()
    return conversations


def _batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    rows = iter(items)
    while batch := list(islice(rows, size)):
        yield batch


def with_messages(conversations: Iterable[Conversation]
                  ) -> Iterator[tuple[Conversation, Iterator[Message]]]:
    """Each conversation with an iterator over its messages (oldest first).

    Two queries per chunk of conversations (no N+1), and the messages come through a cursor a
    fetch at a time, so a chunk holding one enormous conversation stays small too.
    """
    if isinstance(conversations, QuerySet):
        conversations = conversations.iterator(chunk_size=CONVERSATIONS_PER_CHUNK)
    for chunk in _batches(conversations, CONVERSATIONS_PER_CHUNK):
        messages = (Message.objects.filter(conversation__in=[c.pk for c in chunk])
                    .order_by("conversation__created_at", "conversation_id", "created_at", "id")
                    .iterator(chunk_size=MESSAGES_PER_FETCH))
        by_conversation = groupby(messages, key=lambda m: m.conversation_id)
        pending = next(by_conversation, None)
        for conversation in chunk:
            if pending is not None and pending[0] == conversation.pk:
                yield conversation, pending[1]
                pending = next(by_conversation, None)
            else:
                yield conversation, iter(())


def conversation_head(conversation: Conversation) -> dict[str, Any]:
    return {
        "title": conversation.title,
        "bot": conversation.bot.slug,
        "created_at": _when(conversation.created_at),
        "updated_at": _when(conversation.updated_at),
        "pinned_at": _when(conversation.pinned_at),
        "archived_at": _when(conversation.archived_at),
        "summary": conversation.summary,
        "summary_through": _when(conversation.summary_through),
    }


def _reasoning(m: Message) -> dict[str, Any]:
    return {name: getattr(m, name) for name in REASONING_FIELDS
            if getattr(m, name) not in ("", None)}


def message_data(m: Message, position: dict[Any, int]) -> dict[str, Any]:
    """One message as the JSON export writes it; `position` maps earlier ids to their index."""
    return {
        **{name: getattr(m, name) for name in MESSAGE_FIELDS},
        **_reasoning(m),
        "reply_to": position.get(m.reply_to_id) if m.reply_to_id else None,
        "superseded_at": _when(m.superseded_at),
        "created_at": _when(m.created_at),
    }


def _messages_data(messages: Iterable[Message]) -> Iterator[dict[str, Any]]:
    # Replies point backwards (to the user message they answer), so one pass knows every target.
    position: dict[Any, int] = {}
    for index, m in enumerate(messages):
        position[m.pk] = index
        yield message_data(m, position)


def _dumped(value: Any) -> str:
    # json.dumps escapes newlines inside strings, so every "\n" in its text is the layout's own
    # and can be shifted to the depth the value sits at.
    return json.dumps(value, ensure_ascii=False, indent=2)


def _json_list(items: Iterable[Iterable[str]], indent: int) -> Iterator[str]:
    """A list as json.dumps(indent=2) lays it out at this depth; each item comes as pieces laid
    out at depth 0."""
    inner = "\n" + " " * (indent + 2)
    empty = True
    for pieces in items:
        yield ("[" if empty else ",") + inner
        empty = False
        for piece in pieces:
            yield piece.replace("\n", inner)
    yield "[]" if empty else "\n" + " " * indent + "]"


def _conversation_json(conversation: Conversation, messages: Iterable[Message]) -> Iterator[str]:
    yield _dumped(conversation_head(conversation))[:-2] + ',\n  "messages": '
    # A few hundred messages per json.dumps: one call per message cost more than the encoding.
    empty = True
    for batch in _batches(_messages_data(messages), MESSAGES_PER_DUMP):
        text = _dumped(batch).replace("\n", "\n  ")  # "[\n    {...},\n    {...}\n  ]"
        yield (text[:-4] if empty else "," + text[1:-4])
        empty = False
    yield "[]\n}" if empty else "\n  ]\n}"


def export_json_chunks(conversations: Iterable[Conversation]) -> Iterator[str]:
    """The JSON export, piece by piece: the same text json.dumps(..., indent=2) gives whole."""
    yield (f'{{\n  "format": {json.dumps(FORMAT)},\n  "version": {VERSION},\n'
           f'  "conversations": ')
    yield from _json_list((_conversation_json(c, messages)
                           for c, messages in with_messages(conversations)), 2)
    yield "\n}\n"


def export_markdown_chunks(conversations: Iterable[Conversation]) -> Iterator[str]:
    for index, (conversation, messages) in enumerate(with_messages(conversations)):
        lines = [f"# {conversation.title or 'Untitled'}", "",
                 f"*{conversation.bot.name} · {conversation.created_at:%Y-%m-%d %H:%M} UTC*", ""]
        yield ("\n---\n\n" if index else "") + "\n".join(lines)
        for m in messages:
            who = "You" if m.role == Message.Role.USER else conversation.bot.name
            if m.superseded_at:
                who += " (previous version)"
            lines = [f"**{who}:**", ""]
            if m.reasoning:
                lines += [_quoted_reasoning(m.reasoning), ""]
            yield "\n" + "\n".join([*lines, m.content or f"*({m.status})*", ""])


def _quoted_reasoning(reasoning: str) -> str:
    """The model's reasoning as a quote above its answer: readers skip it, as the web folds it."""
    body = "\n".join(f"> {line}".rstrip() for line in reasoning.splitlines())
    return f"> *Thinking:*\n>\n{body}"


def export_json(conversations: Iterable[Conversation]) -> str:
    return "".join(export_json_chunks(conversations))


def export_markdown(conversations: Iterable[Conversation]) -> str:
    return "".join(export_markdown_chunks(conversations))


def encoded(pieces: Iterable[str], size: int = 64 * 1024) -> Iterator[bytes]:
    """UTF-8 chunks of about `size` bytes: one write per chunk, not one per message."""
    buffer: list[bytes] = []
    held = 0
    for piece in pieces:
        data = piece.encode()
        buffer.append(data)
        held += len(data)
        if held >= size:
            yield b"".join(buffer)
            buffer, held = [], 0
    if buffer:
        yield b"".join(buffer)
