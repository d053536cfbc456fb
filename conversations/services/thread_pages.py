"""The visible thread a page at a time, newest first, so a conversation of any length opens in
the time and size of a short one (issue #20). Each page carries its messages' earlier versions."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Q

from conversations.models import Conversation

from .edits import previous_versions
from .payloads import message_payload

THREAD_PAGE_SIZE = 50


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
    Three queries at most, whatever the length of the conversation."""
    messages = conversation.messages.all()
    if before is not None:
        cursor = messages.filter(pk=before).values_list("pk", "created_at").first()
        if cursor is None:
            return None
        messages = messages.filter(_older_than(*cursor))
    newest = list(
        messages.filter(superseded_at__isnull=True).order_by("-created_at", "-pk")
        .values_list("pk", "created_at")[:size + 1]
    )
    has_earlier = len(newest) > size
    if not newest:
        return ThreadPage(messages=[], has_earlier=False)
    window = messages
    if has_earlier:
        # An edit or a regeneration happens at the end of the thread: the earlier versions of
        # this page's messages were all written after the visible message just before the page.
        boundary_pk, boundary_at = newest[-1]
        window = window.filter(Q(created_at__gt=boundary_at)
                               | Q(created_at=boundary_at, pk__gt=boundary_pk))
    rows = list(window.order_by("created_at", "pk"))
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
