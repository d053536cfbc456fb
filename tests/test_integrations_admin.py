"""The Integration admin: write-only encrypted credentials, and the three actions calling the
platform (here the fake Telegram Bot API, through aiogram); the management command."""

from __future__ import annotations

import logging

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from integrations.models import Integration
from tests.fakes.telegram_server import TOKEN, USERNAME
from tests.telegram_support import fake_telegram, fake_telegram_server, telegram  # noqa: F401

pytestmark = pytest.mark.django_db

ADD_URL = "/admin/integrations/integration/add/"


def change_url(integration: Integration) -> str:
    return f"/admin/integrations/integration/{integration.pk}/change/"


def run_action(admin_client, action: str, integration: Integration):
    return admin_client.post("/admin/integrations/integration/", {
        "action": action, "_selected_action": [integration.pk]}, follow=True)


def test_credentials_are_encrypted_and_never_shown(admin_client, demo_bot, fake_telegram):
    response = admin_client.post(ADD_URL, {
        "platform": "telegram", "name": "Support bot", "bot": demo_bot.pk, "enabled": "on",
        "telegram_token": TOKEN,
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    integration = Integration.objects.get()
    assert integration.credential("token") == TOKEN
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials, webhook_secret FROM integrations_integration")
        stored, secret = cursor.fetchone()
    assert stored.startswith("fernet:") and TOKEN not in stored
    assert secret.startswith("fernet:") and integration.webhook_secret not in secret

    secret_part = TOKEN.split(":", 1)[1]
    for url in (change_url(integration), "/admin/integrations/integration/"):
        page = admin_client.get(url).content.decode()
        assert secret_part not in page and integration.webhook_secret not in page
    assert "set" in admin_client.get("/admin/integrations/integration/").content.decode()

    # Saving again with the field left empty keeps the stored token.
    response = admin_client.post(change_url(integration), {
        "platform": "telegram", "name": "Renamed", "bot": demo_bot.pk, "enabled": "on",
        "telegram_token": "",
    })
    assert response.status_code == 302
    integration.refresh_from_db()
    assert integration.name == "Renamed" and integration.credential("token") == TOKEN


def test_a_platform_needs_its_credentials(admin_client, demo_bot):
    response = admin_client.post(ADD_URL, {"platform": "telegram", "name": "No token",
                                           "bot": demo_bot.pk})
    assert response.status_code == 200
    assert "Required for this platform." in response.content.decode()
    assert not Integration.objects.exists()


def test_register_webhook_calls_set_webhook_with_the_secret(admin_client, telegram,
                                                            fake_telegram, settings):
    settings.SITE_URL = "https://chat.example.com"
    telegram.account_name = ""
    telegram.save()
    page = run_action(admin_client, "register_webhook", telegram).content.decode()
    assert "webhook set to https://chat.example.com/integrations/telegram/" in page
    (call,) = fake_telegram.calls_of("setWebhook")
    assert call.token == TOKEN
    assert call.params["url"] == f"https://chat.example.com/integrations/telegram/{telegram.pk}/"
    assert call.params["secret_token"] == telegram.webhook_secret
    assert call.params["allowed_updates"] == ["message"]
    telegram.refresh_from_db()
    assert telegram.account_name == USERNAME
    assert telegram.webhook_secret not in page and TOKEN not in page


def test_test_connection_reports_the_bot_and_its_webhook(admin_client, telegram, fake_telegram):
    page = run_action(admin_client, "test_connection", telegram).content.decode()
    assert f"connected as @{USERNAME}; webhook: not set" in page
    assert [c.method for c in fake_telegram.calls] == ["getMe", "getWebhookInfo"]


def test_rotate_secret_registers_the_new_one(admin_client, telegram, fake_telegram):
    old = telegram.webhook_secret
    run_action(admin_client, "rotate_secret", telegram)
    telegram.refresh_from_db()
    assert telegram.webhook_secret != old and len(telegram.webhook_secret) >= 32
    (call,) = fake_telegram.calls_of("setWebhook")
    assert call.params["secret_token"] == telegram.webhook_secret


def test_an_action_that_fails_is_shown_and_recorded_without_the_token(
        admin_client, telegram, fake_telegram, caplog):
    fake_telegram.revoke()
    with caplog.at_level(logging.DEBUG):
        page = run_action(admin_client, "test_connection", telegram).content.decode()
    assert "Unauthorized" in page and "revoked" in page
    telegram.refresh_from_db()
    assert "test connection" in telegram.last_error
    secret_part = TOKEN.split(":", 1)[1]
    assert secret_part not in page and secret_part not in telegram.last_error
    assert secret_part not in caplog.text
    # The change page shows the recorded error.
    assert "revoked" in admin_client.get(change_url(telegram)).content.decode()


def test_the_management_command_registers_the_webhook(telegram, fake_telegram, capsys):
    call_command("telegram_webhook", "--integration", str(telegram.pk),
                 "--base-url", "https://bots.example.org/")
    (call,) = fake_telegram.calls_of("setWebhook")
    assert call.params["url"] == f"https://bots.example.org/integrations/telegram/{telegram.pk}/"
    assert call.params["secret_token"] == telegram.webhook_secret
    assert "webhook set" in capsys.readouterr().out
    with pytest.raises(CommandError, match="No Telegram integration"):
        call_command("telegram_webhook", "--integration", "99999", "--base-url", "https://x.org")
    fake_telegram.revoke()
    with pytest.raises(CommandError, match="revoked"):
        call_command("telegram_webhook", "--integration", str(telegram.pk),
                     "--base-url", "https://bots.example.org")
