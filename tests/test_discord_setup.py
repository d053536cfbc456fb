"""Setting Discord up: test connection and register webhook (slash commands bulk-overwritten,
the Interactions Endpoint URL set), from the admin's functions and discord_webhook."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from integrations.discord import setup
from integrations.transports.base import TransportError
from tests.discord_support import (  # noqa: F401  (fixtures)
    BOT_TOKEN, discord_integration, fake_discord, fake_discord_server,
)
from tests.fakes.threaded import Fault

pytestmark = pytest.mark.django_db


def test_test_connection_checks_token_application_and_public_key(demo_bot, fake_discord):
    integration = discord_integration(demo_bot)
    assert setup.test_connection(integration) == "connected to application Chatlab"
    [call] = fake_discord.calls_to("application.get")
    assert call["authorization"] == f"Bot {BOT_TOKEN}"
    integration.refresh_from_db()
    assert integration.account_name == "Chatlab"


def test_a_public_key_of_another_application_is_caught(demo_bot, fake_discord):
    integration = discord_integration(demo_bot, public_key="ab" * 32)
    with pytest.raises(TransportError, match="public key"):
        setup.test_connection(integration)


def test_a_bad_token_fails_without_showing_it(demo_bot, fake_discord):
    integration = discord_integration(demo_bot, bot_token="revoked-token-123")
    with pytest.raises(TransportError) as caught:
        setup.test_connection(integration)
    assert caught.value.permanent and "401" in caught.value.message
    assert "revoked-token-123" not in caught.value.message


def test_register_webhook_sets_commands_and_the_endpoint(demo_bot, fake_discord, capsys):
    integration = discord_integration(demo_bot)
    call_command("discord_webhook", "--integration", str(integration.pk),
                 "--base-url", "https://chat.example.com")
    url = f"https://chat.example.com/integrations/discord/{integration.pk}/"
    assert fake_discord.application["interactions_endpoint_url"] == url
    names = [c["name"] for c in fake_discord.commands]
    assert {"ask", "image", "new", "link"} <= set(names)
    ask = next(c for c in fake_discord.commands if c["name"] == "ask")
    assert ask["options"][0]["required"] is True
    assert url in capsys.readouterr().out
    [put] = fake_discord.calls_to("commands")
    assert put["path"] == "/api/v10/applications/1100000000000000001/commands"


def test_register_webhook_reports_a_rate_limit(demo_bot, fake_discord):
    fake_discord.fail(Fault(status=429, retry_after=3, match="commands"))
    integration = discord_integration(demo_bot)
    with pytest.raises(CommandError, match="rate limited"):
        call_command("discord_webhook", "--integration", str(integration.pk),
                     "--base-url", "https://chat.example.com")
    assert fake_discord.application["interactions_endpoint_url"] is None


def test_the_command_needs_a_discord_integration(demo_bot, fake_discord):
    with pytest.raises(CommandError, match="No Discord integration"):
        call_command("discord_webhook", "--integration", "999999", "--base-url", "https://x.org")


def test_the_admin_action_registers_the_endpoint(client, demo_bot, fake_discord, settings):
    from tests.factories import UserFactory

    settings.SITE_URL = "https://chat.example.com"
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    integration = discord_integration(demo_bot)
    response = client.post("/admin/integrations/integration/",
                           {"action": "register_webhook", "_selected_action": [integration.pk]},
                           follow=True)
    assert response.status_code == 200
    url = f"https://chat.example.com/integrations/discord/{integration.pk}/"
    assert fake_discord.application["interactions_endpoint_url"] == url
    assert url in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_discord_accepts_the_endpoint_after_checking_its_signatures(demo_bot, fake_discord,
                                                                    live_server):
    # As Discord does when the URL is set: a signed PING must get PONG, a forged one 401.
    from tests.discord_support import SIGNING_KEY

    fake_discord.signing_key = SIGNING_KEY
    integration = discord_integration(demo_bot)
    setup.register_webhook(integration, live_server.url)
    url = f"{live_server.url}/integrations/discord/{integration.pk}/"
    assert fake_discord.application["interactions_endpoint_url"] == url
    assert [(status, answer) for _, status, answer in fake_discord.endpoint_checks] == [
        (200, {"type": 1}), (401, None)]


@pytest.mark.django_db(transaction=True)
def test_discord_refuses_an_endpoint_that_does_not_know_its_key(demo_bot, fake_discord,
                                                               live_server):
    from nacl.signing import SigningKey

    fake_discord.signing_key = SigningKey.generate()  # not the key stored in the integration
    integration = discord_integration(demo_bot)
    with pytest.raises(TransportError) as caught:
        setup.register_webhook(integration, live_server.url)
    assert caught.value.message == (
        "Discord: 400 Invalid Form Body, code 50035 (interactions_endpoint_url: The specified "
        "interactions endpoint url could not be verified.)")
    assert fake_discord.application["interactions_endpoint_url"] is None
    assert [status for _, status, _ in fake_discord.endpoint_checks] == [401, 401]
