"""The visible thread a page at a time, newest first, so a conversation of any length opens in
the time and size of a short one (issue #20). Each page carries its messages' earlier versions."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from django.db.models import DateTimeField, Q, Subquery, Value
from django.db.models.functions import Coalesce

from conversations.models import Conversation

from .edits import previous_versions
from .payloads import message_payload

THREAD_PAGE_SIZE = 50
_BEGINNING = datetime(1, 1, 2, tzinfo=timezone.utc)


@dataclass(frozen=True)
class ThreadPage:
    messages: list[dict[str, Any]]
    # Whether older visible messages exist before the first one of this page.
    has_earlier: bool


def _older_than(pk: uuid.UUID, created_at: datetime) -> Q:
    # Imported messages can share a timestamp: the id breaks ties, as in the page's ordering.
    return Q(created_at__lt=created_at) | Q(created_at=created_at, pk__lt=pk)


def thread_page(
    *, conversation: Conversation, before: uuid.UUID | None = None,
    size: int = THREAD_PAGE_SIZE,
) -> ThreadPage | None:
    """The `size` newest visible messages older than `before` (a message of this conversation),
    oldest first, with their versions; None when `before` is not one of its messages.
    Two queries at most (one without `before`), whatever the length of the conversation."""
    messages = conversation.messages.all()
    if before is not None:
        cursor = messages.filter(pk=before).values_list("pk", "created_at").first()
        if cursor is None:
            return None
        messages = messages.filter(_older_than(*cursor))
    visible = messages.filter(superseded_at__isnull=True).order_by("-created_at", "-pk")
    # The time of the visible message just before the page (the oldest if there are fewer).
    # An edit or a regeneration happens at the end of the thread, so the earlier versions of
    # this page's messages were all written after that one: one query reads the page with them.
    boundary = Coalesce(Subquery(visible.values("created_at")[size:size + 1]),
                        Value(_BEGINNING, output_field=DateTimeField()))
    rows = list(messages.filter(created_at__gte=boundary).order_by("created_at", "pk"))
    shown = [m for m in rows if m.superseded_at is None]
    has_earlier = len(shown) > size
    if has_earlier:
        # From the boundary on (not from the page's first message: that one's earlier versions
        # come before it); ties at the boundary's time are ordered by id, as the pages are.
        edge = shown[-size - 1]
        rows = [m for m in rows if (m.created_at, m.pk) > (edge.created_at, edge.pk)]
    versions = previous_versions(rows)
    page = []
    for message in rows:
        if message.superseded_at is not None:
            continue
        payload = message_payload(message)
        if payload["id"] in versions:
            payload["versions"] = versions[payload["id"]]
        page.append(payload)
    return ThreadPage(messages=page, has_earlier=has_earlier)
