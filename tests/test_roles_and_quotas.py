"""Roles come from groups, quotas from the role, and both apply on the next request or frame."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Group
from django.core.management import call_command

from accounts.models import ApiToken, Role, RolePolicy
from accounts.roles import role_of
from accounts.services.quotas import allowance_for
from accounts.services.tokens import api_token_authenticate, api_token_create, api_token_revoke
from conversations.models import Message
from conversations.services.errors import ChatError
from conversations.services.messages import message_send
from tests.factories import BotFactory, UserFactory
from tests.test_consumer import connect, frames_until

pytestmark = pytest.mark.django_db


def policy(role: str) -> RolePolicy:
    return RolePolicy.objects.get(role=role)


def test_the_three_roles_exist_with_limits():
    assert set(RolePolicy.objects.values_list("role", flat=True)) == {"guest", "user", "admin"}
    assert policy("guest").api_access is False and policy("guest").images_per_day == 0
    assert policy("admin").messages_per_day is None
    admin_group = policy("admin").group
    assert admin_group.permissions.filter(codename="change_bot").exists()


def test_a_role_is_a_group_and_changes_take_effect_at_once(user):
    assert role_of(user) == Role.USER
    user.groups.add(policy("admin").group)
    assert role_of(user) == Role.ADMIN
    user.groups.clear()
    assert role_of(user) == Role.USER


def test_the_admin_role_opens_the_admin_without_is_staff(client, user):
    client.force_login(user)
    assert client.get("/admin/conversations/bot/").status_code == 302
    user.groups.add(policy("admin").group)
    assert client.get("/admin/conversations/bot/").status_code == 200
    user.groups.clear()
    assert client.get("/admin/conversations/bot/").status_code == 302


def test_over_the_message_quota_is_refused_with_retry_after(user, demo_bot):
    RolePolicy.objects.filter(role="user").update(messages_per_day=2)
    for text in ("one", "two"):
        sent = message_send(user=user, content=text)
        Message.objects.filter(pk=sent.reply.pk).update(status="complete")
    with pytest.raises(ChatError) as err:
        message_send(user=user, content="three", conversation_id=sent.conversation.pk)
    assert err.value.code == "quota" and err.value.status == 429
    assert 0 < err.value.retry_after <= 86400
    assert "2 messages" in err.value.message
    assert not Message.objects.filter(content="three").exists()


def test_over_the_token_quota_is_refused(user, demo_bot):
    RolePolicy.objects.filter(role="user").update(tokens_per_day=100)
    sent = message_send(user=user, content="one")
    Message.objects.filter(pk=sent.reply.pk).update(status="complete", prompt_tokens=60,
                                                    completion_tokens=40)
    allowance = allowance_for(user)
    assert allowance.used.tokens == 100 and allowance.tokens_left == 0
    with pytest.raises(ChatError) as err:
        message_send(user=user, content="two", conversation_id=sent.conversation.pk)
    assert err.value.code == "quota"


def test_unlimited_roles_are_never_refused(user, demo_bot):
    user.groups.add(policy("admin").group)
    RolePolicy.objects.filter(role="user").update(messages_per_day=0)
    assert message_send(user=user, content="fine").is_new


def test_a_role_limited_to_some_bots(user, demo_bot):
    allowed = BotFactory(slug="allowed")
    RolePolicy.objects.filter(role="user").update(all_bots=False)
    policy("user").bots.set([allowed])
    from conversations.selectors import bots_for

    assert list(bots_for(user)) == [allowed]
    with pytest.raises(ChatError) as err:
        message_send(user=user, content="hi", bot_slug="demo")
    assert err.value.code == "unknown_bot"
    assert message_send(user=user, content="hi").conversation.bot == allowed


def test_the_longest_reply_caps_the_bot(user, openai_bot, fake_openai):
    from conversations.services.context import build_request

    RolePolicy.objects.filter(role="user").update(max_reply_tokens=100)
    sent = message_send(user=user, content="short please", bot_slug="gpt")
    assert build_request(sent.reply).max_tokens == 100


@pytest.mark.django_db(transaction=True)
async def test_the_socket_applies_a_new_quota_on_the_next_frame(user, demo_bot):
    comm = await connect(user)
    assert (await comm.connect())[0]
    await comm.send_json_to({"type": "send", "content": "first"})
    await frames_until(comm, lambda f: f.get("type") == "done")
    await sync_to_async(RolePolicy.objects.filter(role="user").update)(messages_per_day=1)
    await comm.send_json_to({"type": "send", "content": "second", "client_id": None})
    error = await comm.receive_json_from()
    assert error["type"] == "error" and error["code"] == "quota" and error["retry_after"] > 0
    assert not await Message.objects.filter(content="second").aexists()
    await comm.disconnect()


def test_api_tokens_are_shown_once_and_stored_hashed(user):
    token, raw = api_token_create(user=user, name="laptop")
    assert raw.startswith("chl_") and len(raw) > 40
    stored = ApiToken.objects.get()
    assert raw not in (stored.digest, stored.prefix) and stored.prefix == raw[:10]
    assert api_token_authenticate(raw) == user
    stored.refresh_from_db()
    assert stored.last_used_at is not None
    assert api_token_authenticate(raw + "x") is None
    assert api_token_authenticate("") is None


def test_revoked_tokens_and_deactivated_users_are_refused(user, other_user):
    token, raw = api_token_create(user=user, name="ci")
    assert not api_token_revoke(user=other_user, token_id=token.pk)
    assert api_token_authenticate(raw) == user
    user.is_active = False
    user.save()
    assert api_token_authenticate(raw) is None
    user.is_active = True
    user.save()
    assert api_token_revoke(user=user, token_id=token.pk)
    assert api_token_authenticate(raw) is None


def test_create_api_token_prints_only_the_token(capsys, user):
    call_command("create_api_token", user.email, "--name", "deploy")
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("chl_")
    assert api_token_authenticate(out.strip()) == user
    assert ApiToken.objects.get().name == "deploy"


def test_the_admin_login_is_rate_limited(client):
    UserFactory(email="boss@example.com", is_staff=True)
    statuses = [
        client.post("/admin/login/", {"username": "boss@example.com", "password": "wrong"}).status_code
        for _ in range(12)
    ]
    assert statuses[:10] == [200] * 10 and statuses[-1] == 429


def test_role_fields_in_forms_are_ignored(client):
    client.post("/accounts/signup/", {
        "email": "sneaky@example.com", "password1": "a-Long-passphrase-1",
        "password2": "a-Long-passphrase-1", "is_staff": "on", "is_superuser": "on",
        "groups": [str(Group.objects.get(name="Admin").pk)], "role": "admin",
    })
    from accounts.models import User

    sneaky = User.objects.get(email="sneaky@example.com")
    assert not sneaky.is_staff and not sneaky.is_superuser and role_of(sneaky) == Role.USER


@pytest.mark.django_db(transaction=True)
async def test_deactivating_a_user_closes_their_open_sockets(user, demo_bot):
    comm = await connect(user)
    assert (await comm.connect())[0]
    user.is_active = False
    await sync_to_async(user.save)()
    assert (await comm.receive_json_from())["code"] == "deactivated"
    assert (await comm.receive_output(timeout=2))["type"] == "websocket.close"


def test_the_profile_shows_usage_and_manages_tokens(client, user, demo_bot):
    client.force_login(user)
    RolePolicy.objects.filter(role="user").update(messages_per_day=5)
    sent = message_send(user=user, content="one")
    Message.objects.filter(pk=sent.reply.pk).update(status="complete", completion_tokens=7)
    page = client.get("/accounts/profile/").content.decode()
    assert 'id="role">user<' in page and ">1<" in page and ">4<" in page
    created = client.post("/accounts/profile/", {"name": "my script"}).content.decode()
    raw = created.split('id="new-token">')[1].split("<")[0]
    assert api_token_authenticate(raw) == user
    assert raw not in client.get("/accounts/profile/").content.decode()
    token = ApiToken.objects.get()
    client.post(f"/accounts/tokens/{token.pk}/revoke/")
    assert api_token_authenticate(raw) is None


def test_no_token_for_a_role_without_api_access(client, user):
    RolePolicy.objects.filter(role="user").update(api_access=False)
    client.force_login(user)
    client.post("/accounts/profile/", {"name": "nope"})
    assert not ApiToken.objects.exists()


def test_someone_elses_token_cannot_be_revoked(client, user, other_user):
    token, raw = api_token_create(user=other_user, name="theirs")
    client.force_login(user)
    client.post(f"/accounts/tokens/{token.pk}/revoke/")
    assert api_token_authenticate(raw) == other_user


def test_deleting_my_account_deletes_my_data(client, user, other_user, demo_bot):
    mine = message_send(user=user, content="mine")
    theirs = message_send(user=other_user, content="theirs")
    client.force_login(user)
    wrong = client.post("/accounts/delete/", {"password": "nope"})
    assert wrong.status_code == 200 and type(user).objects.filter(pk=user.pk).exists()
    response = client.post("/accounts/delete/", {"password": "correct horse battery"})
    assert response.status_code == 302
    assert not type(user).objects.filter(pk=user.pk).exists()
    assert not Message.objects.filter(conversation=mine.conversation).exists()
    assert Message.objects.filter(conversation=theirs.conversation).count() == 2
    assert client.get("/accounts/profile/").status_code == 302
