"""Long conversations for tests, written in one batch with distinct, increasing timestamps."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.utils import timezone

from conversations.models import Conversation, Message
from conversations.services.history_rows import rows_insert


def long_thread(conversation: Conversation, messages: int, start: datetime | None = None,
                apart: timedelta = timedelta(seconds=1)) -> list[uuid.UUID]:
    """`messages` alternating user/assistant turns "turn 0", "turn 1", ...; their ids, oldest
    first. Each reply points at the question before it, as a real one does. `apart=timedelta(0)`
    gives them all one timestamp, as an import can."""
    start = start or timezone.now() - timedelta(days=1)
    rows: list[dict[str, object]] = []
    for n in range(messages):
        user = n % 2 == 0
        rows.append({
            "id": uuid.uuid4(), "conversation_id": conversation.pk,
            "role": Message.Role.USER if user else Message.Role.ASSISTANT,
            "content": f"turn {n}", "status": Message.Status.COMPLETE,
            "reply_to_id": None if user else rows[-1]["id"],
            "created_at": start + n * apart, "updated_at": start + n * apart,
        })
    rows_insert(Message, rows)
    return [row["id"] for row in rows]
