"""Slack's Events API payloads and slash-command forms, as platform-neutral Inbound events.

What is answered: a mention of the app in a channel (app_mention) and a direct message to it
(message.im). Everything else (other event types, edits, bots, the app's own messages, channel
messages that also arrive as app_mention) is ignored, so no event is answered twice.

Where the answer goes: a mention is answered in its thread (a new one under the mention), a
direct message in the conversation, or in its thread when written in one. The chat a Chatlab
conversation follows is the channel plus that thread: each thread in a channel is its own
conversation, a direct-message conversation runs on until /new.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import Any

from ..services.inbound import COMMANDS, Inbound

_USER = re.compile(r"<@([A-Z0-9]+)(?:\|[^>]*)?>")
_CHANNEL = re.compile(r"<#[A-Z0-9]+\|([^>]*)>")
_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)(?:\|([^>]*))?>")
_SPECIAL = re.compile(r"<!([a-z]+)(?:\^[^|>]*)?(?:\|([^>]*))?>")


def slack_text_plain(text: str, *, bot_user_id: str = "") -> str:
    """Slack's markup back to what the person typed: the bot's mention out, links as written."""
    if bot_user_id:
        text = re.sub(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>", "", text)
    text = _USER.sub(lambda m: "@" + m.group(1), text)
    text = _CHANNEL.sub(lambda m: "#" + m.group(1), text)
    text = _SPECIAL.sub(lambda m: "@" + (m.group(2) or m.group(1)), text)

    def link(match: re.Match[str]) -> str:
        url, label = match.group(1), match.group(2)
        if not label or label == url or url.endswith(label):
            return url.removeprefix("mailto:")
        return f"{label} ({url})"

    text = _LINK.sub(link, text)
    return html.unescape(text).strip()  # Slack escapes only &, < and >


def _command(text: str) -> tuple[str, str]:
    """("new", "") for "/new", ("", text) for a plain message."""
    if not text.startswith("/"):
        return "", text
    word, _, rest = text[1:].partition(" ")
    return word.lower(), rest.strip()


def slack_event_parse(integration_id: int, payload: Mapping[str, Any]) -> Inbound | None:
    """An Inbound for an event_callback the bot answers, None for one it ignores."""
    event = payload.get("event")
    event_id = payload.get("event_id")
    if not isinstance(event, dict) or not isinstance(event_id, str) or not event_id:
        return None
    kind = event.get("type")
    direct = kind == "message" and event.get("channel_type") == "im"
    if kind != "app_mention" and not direct:
        return None
    # Edits, joins and the bots' own posts (ours included) carry a subtype or a bot_id.
    if event.get("subtype") or event.get("bot_id"):
        return None
    authorizations = payload.get("authorizations") or [{}]
    bot_user_id = str((authorizations[0] or {}).get("user_id") or "")
    user, channel = event.get("user"), event.get("channel")
    if not isinstance(user, str) or not isinstance(channel, str) or not user or not channel:
        return None
    if user == bot_user_id:
        return None
    thread = str(event.get("thread_ts") or ("" if direct else event.get("ts") or ""))
    text = slack_text_plain(str(event.get("text") or ""), bot_user_id=bot_user_id)
    command, argument = _command(text)
    return Inbound(
        integration_id=integration_id, delivery_key=f"event:{event_id}", sender_id=user,
        sender_name=user, chat_id=f"{channel}:{thread}" if thread else channel,
        thread_id=thread, text=text, command=command, argument=argument,
        reply_ref={"channel": channel, "team": str(payload.get("team_id") or "")},
    )


def slack_command_parse(integration_id: int, form: Mapping[str, str]) -> Inbound | None:
    """An Inbound for a slash command (/ask, /image, /new, /link, ...). A command whose name is
    not one of ours (an admin may call it /gpt) asks the bot, like /ask."""
    name = (form.get("command") or "").lstrip("/").lower()
    trigger, user, channel = form.get("trigger_id"), form.get("user_id"), form.get("channel_id")
    if not name or not trigger or not user or not channel:
        return None
    command = name if name in COMMANDS else "ask"
    argument = slack_text_plain(form.get("text") or "")
    return Inbound(
        integration_id=integration_id, delivery_key=f"command:{trigger}", sender_id=user,
        sender_name=form.get("user_name") or user, chat_id=channel, text=argument,
        command=command, argument=argument,
        reply_ref={"channel": channel, "response_url": form.get("response_url") or "",
                   "team": form.get("team_id") or ""},
    )
