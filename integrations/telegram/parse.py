"""A Telegram update (parsed by aiogram's own types) -> the platform-neutral Inbound, or None
for an update the bot does not answer: other update types, messages without text, group
messages that neither mention the bot nor reply to it, commands meant for another bot."""

from __future__ import annotations

import re
from typing import Any

from aiogram.types import Message, Update
from pydantic import ValidationError

from ..models import Integration
from ..services.inbound import Inbound

_COMMAND = re.compile(r"^/([A-Za-z0-9_]{1,32})(?:@([A-Za-z0-9_]{3,64}))?(?:\s+(.*))?$", re.S)


def update_parse(data: Any) -> Update | None:
    if not isinstance(data, dict):
        return None
    try:
        return Update.model_validate(data)
    except ValidationError:
        return None


def bot_user_id(integration: Integration) -> str:
    # A bot token is "<bot's user id>:<secret>": replies to the bot are recognised without a
    # getMe call.
    return integration.credential("token").split(":", 1)[0]


def _addressed(message: Message, integration: Integration, text: str) -> tuple[bool, str]:
    """Whether a group message is meant for the bot, and its text without the mention."""
    name = integration.account_name.lstrip("@")
    replied = message.reply_to_message
    if replied is not None and replied.from_user is not None and (
            str(replied.from_user.id) == bot_user_id(integration)):
        return True, text
    if name:
        mention = re.compile(rf"@{re.escape(name)}\b", re.I)
        if mention.search(text):
            return True, " ".join(mention.sub(" ", text).split())
    return False, text


def inbound_from_update(update: Update, integration: Integration) -> Inbound | None:
    message = update.message
    if message is None or message.from_user is None or message.from_user.is_bot:
        return None
    text = (message.text or message.caption or "").strip()
    if not text:
        return None
    command = argument = ""
    if (match := _COMMAND.match(text)) is not None:
        target = match.group(2)
        name = integration.account_name.lstrip("@")
        if target and name and target.lower() != name.lower():
            return None  # /cmd@another_bot in a group
        command = match.group(1).lower()
        argument = (match.group(3) or "").strip()
    elif message.chat.type != "private":
        addressed, text = _addressed(message, integration, text)
        if not addressed:
            return None
    if not command and not text:
        return None
    person = message.from_user
    name = " ".join(filter(None, [person.first_name, person.last_name])) or person.username or ""
    thread = message.message_thread_id if message.is_topic_message else None
    return Inbound(
        integration_id=integration.pk,
        delivery_key=str(update.update_id),
        sender_id=str(person.id),
        sender_name=name,
        chat_id=str(message.chat.id),
        thread_id=str(thread) if thread else "",
        text=text if not command else "",
        command=command,
        argument=argument,
        reply_ref={"message_id": message.message_id, "private": message.chat.type == "private"},
        language=person.language_code or "",
    )
