"""Setting Slack up: test connection / register webhook (admin actions and slack_webhook),
pictures through the v2 upload flow, and markdown turned into mrkdwn."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from integrations.models import Integration
from integrations.slack import setup
from integrations.slack.mrkdwn import to_mrkdwn
from integrations.slack.transport import SlackTransport
from integrations.transports.base import Target, TransportError
from tests.fakes.threaded import Fault
from tests.slack_support import fake_slack, fake_slack_server, slack_integration  # noqa: F401


@pytest.mark.django_db
def test_test_connection_checks_the_token_with_auth_test(demo_bot, fake_slack):
    integration = slack_integration(demo_bot)
    assert setup.test_connection(integration) == "connected as @chatlab in Chatlab Test"
    assert [c["token"] for c in fake_slack.calls_to("auth.test")] == ["xoxb-test-token"]
    integration.refresh_from_db()
    assert integration.account_name == "chatlab"


@pytest.mark.django_db
@pytest.mark.parametrize("token,error", [("xoxb-revoked", "Slack: token_revoked"),
                                         ("xoxb-unknown", "Slack: invalid_auth")])
def test_a_bad_token_fails_the_test_without_showing_it(demo_bot, fake_slack, token, error):
    fake_slack.revoked_tokens.add("xoxb-revoked")
    integration = slack_integration(demo_bot, bot_token=token)
    with pytest.raises(TransportError) as caught:
        setup.test_connection(integration)
    assert caught.value.message == error and caught.value.permanent


@pytest.mark.django_db
def test_register_webhook_prints_the_request_url(demo_bot, fake_slack, capsys):
    integration = slack_integration(demo_bot)
    call_command("slack_webhook", "--integration", str(integration.pk),
                 "--base-url", "https://chat.example.com/")
    out = capsys.readouterr().out
    assert f"https://chat.example.com/integrations/slack/{integration.pk}/" in out
    assert len(fake_slack.calls_to("auth.test")) == 1


@pytest.mark.django_db
def test_the_command_refuses_what_it_cannot_do(demo_bot, fake_slack):
    integration = slack_integration(demo_bot)
    with pytest.raises(CommandError, match="No Slack integration"):
        call_command("slack_webhook", "--integration", "999999", "--base-url", "https://x.org")
    with pytest.raises(CommandError, match="https://"):
        call_command("slack_webhook", "--integration", str(integration.pk), "--base-url", "x.org")
    fake_slack.revoked_tokens.add("xoxb-test-token")
    with pytest.raises(CommandError, match="token_revoked"):
        call_command("slack_webhook", "--integration", str(integration.pk),
                     "--base-url", "https://x.org")


@pytest.mark.django_db(transaction=True)
async def test_a_picture_goes_through_the_v2_upload_flow_into_the_thread(demo_bot, fake_slack):
    integration = await Integration.objects.acreate(platform="slack", name="s", bot=demo_bot)
    integration.set_credentials(bot_token="xoxb-test-token", signing_secret="s" * 10)
    transport = SlackTransport(integration)
    target = Target("C0PICS:1.000001", "1.000001", {"channel": "C0PICS"})
    await transport.send_image(target, b"\x89PNG not really", "fox.png", "a **red** fox")
    names = [c["name"] for c in fake_slack.calls]
    assert names == ["files.getUploadURLExternal", "upload", "files.completeUploadExternal"]
    [message] = fake_slack.in_channel("C0PICS")
    assert message.thread_ts == "1.000001" and message.text == "a *red* fox"
    assert message.files[0]["name"] == "fox.png" and message.files[0]["size"] == 15


@pytest.mark.django_db(transaction=True)
async def test_transport_errors_say_whether_a_retry_helps(demo_bot, fake_slack):
    integration = await Integration.objects.acreate(platform="slack", name="s", bot=demo_bot)
    integration.set_credentials(bot_token="xoxb-test-token", signing_secret="s" * 10)
    transport = SlackTransport(integration)
    target = Target("C1")
    fake_slack.fail(Fault(status=429, retry_after=7), Fault(status=500),
                    Fault(error="channel_not_found"))
    with pytest.raises(TransportError) as limited:
        await transport.send(target, "hi")
    assert (limited.value.permanent, limited.value.retry_after) == (False, 7.0)
    with pytest.raises(TransportError) as broken:
        await transport.send(target, "hi")
    assert not broken.value.permanent and broken.value.retry_after is None
    with pytest.raises(TransportError) as gone:
        await transport.send(target, "hi")
    assert gone.value.permanent and gone.value.message == "Slack: channel_not_found"
    ts = await transport.send(target, "hello")
    await transport.edit(target, ts, "hello again")
    assert fake_slack.in_channel("C1")[0].text == "hello again"


def test_markdown_becomes_mrkdwn():
    source = ("# Title\n\nSome **bold**, *italic*, ~~gone~~ and `a < b`.\n\n"
              "- one\n- two\n  - nested\n\n1. first\n2. second\n\n"
              "> quoted\n\n```python\nif a < b and c > d:\n    print('**not bold**')\n```\n\n"
              "[the docs](https://example.com/?a=1&b=2) [bad](javascript:alert(1))")
    assert to_mrkdwn(source) == (
        "*Title*\n\nSome *bold*, _italic_, ~gone~ and `a &lt; b`.\n\n"
        "• one\n• two\n    ◦ nested\n\n1. first\n2. second\n\n"
        "> quoted\n\n```\nif a &lt; b and c &gt; d:\n    print('**not bold**')\n```\n\n"
        "<https://example.com/?a=1&amp;b=2|the docs> [bad](javascript:alert(1))")


@pytest.mark.parametrize("text", ["<!channel> look", "<!here>", "<@U123> hi", "a <b> c &"])
def test_a_reply_cannot_ping_anyone_or_write_slack_markup(text):
    rendered = to_mrkdwn(text)
    assert "<" not in rendered and ">" not in rendered


def test_a_link_shows_where_it_goes():
    # An autolink with a "|" cannot pass off one address as another: the "|" is encoded.
    assert to_mrkdwn("<https://evil.example|https://bank.example>") == (
        "<https://evil.example%7Chttps://bank.example|https://evil.example|https://bank.example>")


@pytest.mark.django_db
def test_the_admin_actions_test_and_register(client, demo_bot, fake_slack, settings):
    from tests.factories import UserFactory

    settings.SITE_URL = "https://chat.example.com"
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    integration = slack_integration(demo_bot)
    url = "/admin/integrations/integration/"
    for action in ("test_connection", "register_webhook"):
        response = client.post(url, {"action": action, "_selected_action": [integration.pk]},
                               follow=True)
        assert response.status_code == 200
    text = response.content.decode()
    assert f"https://chat.example.com/integrations/slack/{integration.pk}/" in text
    assert len(fake_slack.calls_to("auth.test")) == 2
    fake_slack.revoked_tokens.add("xoxb-test-token")
    response = client.post(url, {"action": "test_connection",
                                 "_selected_action": [integration.pk]}, follow=True)
    assert "token_revoked" in response.content.decode()
    integration.refresh_from_db()
    assert "token_revoked" in integration.last_error
