"""Discord's outbound side: answers go through the interaction's webhook.

The first message of an answer edits the deferred response ("… is thinking"), the ones after it
are follow-up messages; each is then edited as the answer grows. Whether an interaction's
deferred response was used is kept in the cache (Redis in production), so the picture of an
/image job, delivered later by another process, knows to send a follow-up. No answer may ping
anyone: allowed_mentions is empty on every message.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
from typing import Any

from django.core.cache import cache

from ..models import Integration
from ..transports.base import Target, TransportError
from .api import discord_call

NO_PINGS = {"parse": []}
ORIGINAL_TTL = 15 * 60  # an interaction token's lifetime


class DiscordTransport:
    max_chars = 2000  # Discord refuses longer content
    # Interaction webhooks allow about five requests per two seconds: one edit a second leaves
    # room for the follow-ups of a long answer.
    edit_interval = 1.0

    def __init__(self, integration: Integration) -> None:
        self.integration = integration
        self.application_id = integration.credential("application_id")

    def _webhook(self, target: Target) -> str:
        token = str(target.reply_ref.get("token") or "")
        if not token:
            raise TransportError("Discord: the answer has no interaction token", permanent=True)
        return f"/webhooks/{self.application_id}/{token}"

    @staticmethod
    def _original_key(target: Target) -> str:
        token = str(target.reply_ref.get("token") or "")
        return "discord-original:" + hashlib.sha256(token.encode()).hexdigest()[:32]

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        return await discord_call(method, path, secrets=self.integration.secrets(), **kwargs)

    async def _post_or_edit_original(self, target: Target, **kwargs: Any) -> dict[str, Any]:
        base = self._webhook(target)
        key = self._original_key(target)
        if not await cache.aget(key):
            message = await self._call("PATCH", f"{base}/messages/@original", **kwargs)
            await cache.aset(key, True, ORIGINAL_TTL)  # only once it worked: a retry edits it
            return message or {}
        return await self._call("POST", base, **kwargs) or {}

    async def send(self, target: Target, text: str) -> str:
        message = await self._post_or_edit_original(
            target, json={"content": text, "allowed_mentions": NO_PINGS})
        return str(message.get("id") or "@original")

    async def edit(self, target: Target, ref: str, text: str) -> None:
        await self._call("PATCH", f"{self._webhook(target)}/messages/{ref}",
                         json={"content": text, "allowed_mentions": NO_PINGS})

    async def send_image(self, target: Target, data: bytes, filename: str,
                         caption: str) -> None:
        payload = {"content": caption[:self.max_chars], "allowed_mentions": NO_PINGS,
                   "attachments": [{"id": 0, "filename": filename}]}
        await self._post_or_edit_original(
            target, data={"payload_json": json.dumps(payload)},
            files={"files[0]": (filename, data, mimetypes.guess_type(filename)[0]
                                or "application/octet-stream")})

    def render(self, markdown: str) -> str:
        # Discord renders the markdown models write (bold, italics, code, lists, headings, links).
        return markdown


def transport(integration: Integration) -> DiscordTransport:
    return DiscordTransport(integration)
