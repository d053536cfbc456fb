"""Setting up a Discord integration (admin actions and `manage.py discord_webhook`).

register_webhook overwrites the application's global slash commands with Chatlab's and sets its
Interactions Endpoint URL (Discord then checks the URL with signed and badly signed PINGs, so
the site must be reachable at base_url). test_connection checks the bot token and that the
application id and public key stored here are that application's.
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils.translation import gettext as _

from ..models import Integration
from ..transports.base import TransportError
from .api import discord_call_sync

STRING = 3
# Global commands; names are what people type, descriptions what Discord shows beside them.
COMMANDS: list[dict[str, Any]] = [
    {"name": "ask", "description": "Ask the bot",
     "options": [{"type": STRING, "name": "question", "description": "Your message",
                  "required": True, "max_length": 4000}]},
    {"name": "image", "description": "Draw a picture",
     "options": [{"type": STRING, "name": "prompt", "description": "What to draw",
                  "required": True, "max_length": 1000}]},
    {"name": "new", "description": "Start a new conversation"},
    {"name": "retry", "description": "Write the last reply again if it failed"},
    {"name": "link", "description": "Link your Chatlab account (code from your profile page)",
     "options": [{"type": STRING, "name": "code", "description": "The one-time code",
                  "required": True, "max_length": 20}]},
    {"name": "bots", "description": "The bots you may talk to"},
    {"name": "bot", "description": "Talk to another bot",
     "options": [{"type": STRING, "name": "name", "description": "The bot's name",
                  "required": True, "max_length": 100}]},
    {"name": "lang", "description": "The language of this conversation",
     "options": [{"type": STRING, "name": "language", "description": "A language code",
                  "required": False, "max_length": 20}]},
    {"name": "usage", "description": "What is left of today's allowance"},
]


def discord_webhook_url(integration: Integration, base_url: str) -> str:
    return base_url.rstrip("/") + reverse("discord_interactions", args=[integration.pk])


def _call(integration: Integration, method: str, path: str, **kwargs: Any) -> Any:
    return discord_call_sync(method, path, secrets=integration.secrets(),
                             bot_token=integration.credential("bot_token"), **kwargs)


def test_connection(integration: Integration) -> str:
    missing = [k for k in ("application_id", "public_key", "bot_token")
               if not integration.credential(k)]
    if missing:
        raise TransportError(_("Discord: missing %(keys)s") % {"keys": ", ".join(missing)},
                             permanent=True)
    app = _call(integration, "GET", "/applications/@me") or {}
    if str(app.get("id")) != integration.credential("application_id"):
        raise TransportError(_("Discord: the bot token belongs to another application"),
                             permanent=True)
    if str(app.get("verify_key", "")).lower() != integration.credential("public_key").lower():
        raise TransportError(_("Discord: the public key is not this application's"),
                             permanent=True)
    name = str(app.get("name") or "?")
    if integration.account_name != name:
        Integration.objects.filter(pk=integration.pk).update(account_name=name[:100])
        integration.account_name = name[:100]
    return _("connected to application %(name)s") % {"name": name}


def register_webhook(integration: Integration, base_url: str) -> str:
    test_connection(integration)
    app_id = integration.credential("application_id")
    commands = _call(integration, "PUT", f"/applications/{app_id}/commands", json=COMMANDS)
    url = discord_webhook_url(integration, base_url)
    _call(integration, "PATCH", "/applications/@me", json={"interactions_endpoint_url": url})
    names = ", ".join("/" + c["name"] for c in commands or [])
    return _("commands %(names)s registered; interactions endpoint set to %(url)s") % {
        "names": names, "url": url}
