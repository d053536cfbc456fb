"""Telegram set-up calls shared by the admin actions and `manage.py telegram_webhook`."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext as _

from conversations.worker_loop import run_on_shared_loop

from ..models import Integration
from .transport import telegram_bot, telegram_call

# Telegram sends the secret back with every update: rotating it means registering again.
SECRET_IN_WEBHOOK = True
ALLOWED_UPDATES = ["message"]


def webhook_url(integration: Integration, base_url: str) -> str:
    path = reverse("telegram_webhook", kwargs={"integration_id": integration.pk})
    return base_url.rstrip("/") + path


async def _register(integration: Integration, url: str) -> str:
    bot = telegram_bot(integration)
    me = await telegram_call(integration, bot.get_me())
    await telegram_call(integration, bot.set_webhook(
        url=url, secret_token=integration.webhook_secret, allowed_updates=ALLOWED_UPDATES))
    return me.username or ""


async def _test(integration: Integration) -> tuple[str, str]:
    bot = telegram_bot(integration)
    me = await telegram_call(integration, bot.get_me())
    info = await telegram_call(integration, bot.get_webhook_info())
    return me.username or "", info.url or ""


def _remember(integration: Integration, username: str) -> None:
    if username and username != integration.account_name:
        Integration.objects.filter(pk=integration.pk).update(account_name=username)
        integration.account_name = username


def register_webhook(integration: Integration, base_url: str) -> str:
    """Calls setWebhook with this integration's URL and secret; raises TransportError."""
    url = webhook_url(integration, base_url)
    username = run_on_shared_loop(_register(integration, url), timeout=60)
    _remember(integration, username)
    return _("webhook set to %(url)s for @%(name)s") % {"url": url, "name": username}


def test_connection(integration: Integration) -> str:
    username, url = run_on_shared_loop(_test(integration), timeout=60)
    _remember(integration, username)
    return _("connected as @%(name)s; webhook: %(url)s") % {
        "name": username, "url": url or _("not set")}
