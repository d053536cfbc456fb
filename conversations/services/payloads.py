"""The JSON shapes of conversations and messages, shared by the socket, pages and the API."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext

from conversations.models import Bot, Conversation, Message


def message_payload(message: Message, *, with_content: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(message.id),
        "role": message.role,
        "status": message.status,
        # Errors are stored in English; the reader sees them in their own language.
        "error": gettext(message.error) if message.error else "",
        "reply_to": str(message.reply_to_id) if message.reply_to_id else None,
        "created_at": message.created_at.isoformat() if message.created_at else None,
        "model": message.model,
        "prompt_tokens": message.prompt_tokens,
        "completion_tokens": message.completion_tokens,
        "reasoning_tokens": message.reasoning_tokens,
        "reasoning_ms": message.reasoning_ms,
        "ttft_ms": message.ttft_ms,
        "total_ms": message.total_ms,
    }
    if with_content:
        data["content"] = message.content
        # Apart from the content, and never part of it: what the model thought first.
        data["reasoning"] = message.reasoning
    return data


def bot_payload(bot: Bot) -> dict[str, Any]:
    # In the page's language, or the default language where the admin left one empty.
    return {"slug": bot.slug, "name": bot.name, "description": bot.description,
            "welcome": bot.welcome}


def conversation_payload(conversation: Conversation) -> dict[str, Any]:
    return {
        "id": str(conversation.id),
        "title": conversation.title,
        "bot": conversation.bot.slug,
        "updated_at": conversation.updated_at.isoformat(),
    }
