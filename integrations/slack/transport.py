"""Slack's outbound side through slack-sdk's AsyncWebClient: chat.postMessage in the reply's
thread, chat.update as it grows, files through the v2 upload flow.

slack-sdk's own retry handlers are off: integrations.transports.base.with_retries is the one
retry loop (bounded), and it needs to see a 429's Retry-After and which errors are permanent.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from django.conf import settings
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web.async_client import AsyncWebClient

from conversations.providers.openai_compat import ssl_context

from ..models import Integration
from ..transports.base import Target, TransportError, scrub
from .mrkdwn import to_mrkdwn

# Errors another try can cure; every other `error` (invalid_auth, token_revoked,
# channel_not_found, not_in_channel, msg_too_long, ...) is permanent.
TRANSIENT = {"ratelimited", "internal_error", "fatal_error", "service_unavailable",
             "request_timeout"}


def slack_client(integration: Integration) -> AsyncWebClient:
    return AsyncWebClient(token=integration.credential("bot_token"),
                          base_url=settings.CHATLAB_SLACK_API_URL, timeout=15,
                          ssl=ssl_context(), retry_handlers=[])


def slack_error(exc: Exception, secrets: list[str]) -> TransportError:
    if isinstance(exc, SlackApiError):
        response = exc.response
        status = response.status_code
        data = response.data if isinstance(response.data, dict) else {}
        code = str(data.get("error") or f"HTTP {status}")
        retry_after = None
        if status == 429:
            header = next((v for k, v in response.headers.items()
                           if k.lower() == "retry-after"), "1")
            try:
                retry_after = float(header)
            except (TypeError, ValueError):
                retry_after = 1.0
        permanent = status != 429 and status < 500 and code not in TRANSIENT
        return TransportError(scrub(f"Slack: {code}", secrets), permanent=permanent,
                              retry_after=retry_after)
    if isinstance(exc, (aiohttp.ClientError, TimeoutError)):
        return TransportError(scrub(f"Slack unreachable: {type(exc).__name__}", secrets))
    return TransportError(scrub(f"Slack: {exc}", secrets), permanent=True)


class SlackTransport:
    # Slack truncates past 40,000 characters but asks for messages under 4,000; escaping for
    # mrkdwn lengthens the text a little, so the raw pieces stay well below.
    max_chars = 3800
    # chat.update is a Tier 3 method (about 50 a minute): a little over one edit a second.
    edit_interval = 1.2

    def __init__(self, integration: Integration) -> None:
        self.integration = integration
        self.client = slack_client(integration)

    @staticmethod
    def _channel(target: Target) -> str:
        return str(target.reply_ref.get("channel") or target.chat_id)

    async def _call(self, coro: Any) -> Any:
        try:
            return await coro
        except (SlackApiError, SlackRequestError, aiohttp.ClientError, TimeoutError) as exc:
            raise slack_error(exc, self.integration.secrets()) from None

    async def send(self, target: Target, text: str) -> str:
        response = await self._call(self.client.chat_postMessage(
            channel=self._channel(target), text=text, thread_ts=target.thread_id or None,
            mrkdwn=True, unfurl_links=False, unfurl_media=False))
        return str(response["ts"])

    async def edit(self, target: Target, ref: str, text: str) -> None:
        await self._call(self.client.chat_update(channel=self._channel(target), ts=ref,
                                                 text=text))

    async def send_image(self, target: Target, data: bytes, filename: str,
                         caption: str) -> None:
        await self._call(self.client.files_upload_v2(
            channel=self._channel(target), thread_ts=target.thread_id or None, file=data,
            filename=filename, title=caption[:250] or filename,
            initial_comment=to_mrkdwn(caption) if caption else None))

    def render(self, markdown: str) -> str:
        return to_mrkdwn(markdown)


def transport(integration: Integration) -> SlackTransport:
    return SlackTransport(integration)
