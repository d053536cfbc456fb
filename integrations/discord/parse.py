"""Discord interactions (application commands) as platform-neutral Inbound events.

The answer goes through the interaction's own webhook (its token, valid 15 minutes): the deferred
response's message is edited, longer answers continue in follow-up messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..services.inbound import COMMANDS, Inbound

PING, APPLICATION_COMMAND, COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 1, 2, 3, 4, 5
STRING_OPTION = 3
# Answers only the asker sees: /link carries a one-time code, /usage their allowance.
PRIVATE = {"link", "usage"}


def _argument(options: Any) -> str:
    values = [str(o.get("value", "")) for o in options or []
              if isinstance(o, dict) and o.get("type") == STRING_OPTION]
    return " ".join(v for v in values if v).strip()


def discord_interaction_parse(integration_id: int,
                              payload: Mapping[str, Any]) -> Inbound | None:
    """An Inbound for an application command, None when the payload is not a usable one."""
    data = payload.get("data")
    interaction_id, token = payload.get("id"), payload.get("token")
    if not isinstance(data, dict) or not isinstance(token, str) or not token:
        return None
    name = str(data.get("name") or "").lower()
    member = payload.get("member") if isinstance(payload.get("member"), dict) else {}
    user = member.get("user") or payload.get("user")  # in a server / in a direct message
    channel = payload.get("channel_id") or (payload.get("channel") or {}).get("id")
    if not name or not interaction_id or not isinstance(user, dict) or not user.get("id") \
            or not channel:
        return None
    command = name if name in COMMANDS else "ask"
    argument = _argument(data.get("options"))
    locale = str(payload.get("locale") or "")  # the person's Discord language, e.g. en-US
    return Inbound(
        integration_id=integration_id, delivery_key=f"interaction:{interaction_id}",
        sender_id=str(user["id"]),
        sender_name=str(user.get("global_name") or user.get("username") or user["id"]),
        chat_id=str(channel), text=argument, command=command, argument=argument,
        reply_ref={"token": token, "interaction_id": str(interaction_id)},
        language=locale.split("-")[0].lower(),
    )


def deferred_response(inbound: Inbound) -> dict[str, Any]:
    """Type 5: Discord shows "<bot> is thinking…" until the answer edits it."""
    if inbound.command in PRIVATE:
        return {"type": 5, "data": {"flags": 64}}
    return {"type": 5}
