"""Issue #21: re-importing an export raised the day's message count (9 -> 14). Imported
messages are history, not usage: today's quota counts none of them, however recent their times."""

from __future__ import annotations

from accounts.services.quotas import usage_today
from conversations.services.history_export import export_json, exportable
from conversations.services.history_import import import_bytes
from conversations.services.messages import message_send


def test_reimporting_todays_export_spends_no_quota(user, demo_bot):
    for text in ("first question", "second question", "third question"):
        message_send(user=user, content=text, bot_slug=demo_bot.slug)
    before = usage_today(user)
    assert before.messages == 3

    imported, skipped = import_bytes(user=user, raw=export_json(exportable(user)).encode())

    assert (imported, skipped) == (3, 0)
    after = usage_today(user)
    assert after.messages == before.messages and after.tokens == before.tokens
    # The person's own next message still counts.
    message_send(user=user, content="a new question", bot_slug=demo_bot.slug)
    assert usage_today(user).messages == before.messages + 1
