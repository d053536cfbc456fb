"""Slack's outbound side through slack-sdk's AsyncWebClient: chat.postMessage in the reply's
thread, chat.update as it grows, files through the v2 upload flow.

slack-sdk's own retry handlers are off: integrations.transports.base.with_retries is the one
retry loop (bounded), and it needs to see a 429's Retry-After and which errors are permanent.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from django.conf import settings
from django.utils.translation import gettext as _
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from conversations.providers.openai_compat import ssl_context

from ..models import Integration
from ..transports.base import Target, TransportError, scrub
from .mrkdwn import to_mrkdwn

# Errors another try can cure; every other `error` (invalid_auth, token_revoked,
# channel_not_found, not_in_channel, msg_too_long, ...) is permanent.
TRANSIENT = {"ratelimited", "internal_error", "fatal_error", "service_unavailable",
             "request_timeout"}
# The bot may not post there: a slash command from a channel it was not invited to.
NOT_A_MEMBER = {"not_in_channel", "channel_not_found"}
RESPONSE_URL_HOSTS = {"hooks.slack.com"}

log = logging.getLogger(__name__)


def slack_client(integration: Integration) -> AsyncWebClient:
    return AsyncWebClient(token=integration.credential("bot_token"),
                          base_url=settings.CHATLAB_SLACK_API_URL, timeout=15,
                          ssl=ssl_context(), retry_handlers=[])


def error_code(exc: Exception) -> str:
    data = exc.response.data if isinstance(exc, SlackApiError) else None
    return str(data.get("error") or "") if isinstance(data, dict) else ""


def slack_error(exc: Exception, secrets: list[str]) -> TransportError:
    if isinstance(exc, SlackApiError):
        response = exc.response
        status = response.status_code
        code = error_code(exc) or f"HTTP {status}"
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
        try:
            response = await self.client.chat_postMessage(
                channel=self._channel(target), text=text, thread_ts=target.thread_id or None,
                mrkdwn=True, unfurl_links=False, unfurl_media=False)
        except SlackApiError as exc:
            if error_code(exc) in NOT_A_MEMBER:
                await self._explain_privately(target)
            raise slack_error(exc, self.integration.secrets()) from None
        except (SlackRequestError, aiohttp.ClientError, TimeoutError) as exc:
            raise slack_error(exc, self.integration.secrets()) from None
        return str(response["ts"])

    async def _explain_privately(self, target: Target) -> None:
        """Tells the person who typed the slash command (only them) why no answer comes, through
        the command's response_url: the one way to reach a channel the bot is not in."""
        url = str(target.reply_ref.get("response_url") or "")
        allowed = RESPONSE_URL_HOSTS | {urlsplit(settings.CHATLAB_SLACK_API_URL).netloc}
        if not url or urlsplit(url).netloc not in allowed:
            return
        try:
            await AsyncWebhookClient(url, timeout=10, ssl=ssl_context()).send(
                response_type="ephemeral",
                text=_("I cannot write in this channel. Invite me with /invite, or write to me "
                       "directly."))
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.info("slack response_url failed: %s", type(exc).__name__)

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
