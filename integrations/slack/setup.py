"""Setting up a Slack integration (admin actions and `manage.py slack_webhook`).

Slack has no API a bot token may use to set the Request URL: it lives in the app's settings
(or its manifest, which only an app configuration token may change). register_webhook checks
the bot token with auth.test and returns the URL to paste there, for Event Subscriptions and
for each slash command.
"""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext as _
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError

from conversations.providers.openai_compat import ssl_context

from ..models import Integration
from ..transports.base import TransportError
from .transport import slack_error


def slack_webhook_url(integration: Integration, base_url: str) -> str:
    return base_url.rstrip("/") + reverse("slack_webhook", args=[integration.pk])


def _auth_test(integration: Integration) -> dict:
    client = WebClient(token=integration.credential("bot_token"),
                       base_url=settings.CHATLAB_SLACK_API_URL, timeout=15, ssl=ssl_context(),
                       retry_handlers=[])
    try:
        return client.auth_test().data  # type: ignore[return-value]
    except (SlackApiError, SlackRequestError, OSError) as exc:
        raise slack_error(exc, integration.secrets()) from None


def _remember(integration: Integration, name: str) -> None:
    if name and name != integration.account_name:
        Integration.objects.filter(pk=integration.pk).update(account_name=name[:100])
        integration.account_name = name[:100]


def test_connection(integration: Integration) -> str:
    if not integration.credential("signing_secret"):
        raise TransportError(_("Slack: the signing secret is missing"), permanent=True)
    data = _auth_test(integration)
    _remember(integration, str(data.get("user") or ""))
    return _("connected as @%(user)s in %(team)s") % {"user": data.get("user", "?"),
                                                       "team": data.get("team", "?")}


def register_webhook(integration: Integration, base_url: str) -> str:
    test_connection(integration)
    url = slack_webhook_url(integration, base_url)
    return _("paste %(url)s as the Request URL of Event Subscriptions (events app_mention and "
             "message.im) and of the slash commands /ask, /image, /new and /link") % {"url": url}
