"""The REST API: auth, errors, every resource, and a streamed reply over SSE."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient
from rest_framework.test import APIClient

from accounts.models import RolePolicy
from accounts.services.tokens import api_token_create
from conversations.models import Conversation, Message
from tests.factories import BotFactory, ConversationFactory, MessageFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def token(user) -> str:
    return api_token_create(user=user, name="tests")[1]


@pytest.fixture
def api(token) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_it_needs_a_token_or_session():
    response = APIClient().get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Bearer chl_nope")
    assert bad.get("/api/v1/me/").json()["error"]["code"] == "authentication_failed"


def test_a_session_works_too(client, user):
    client.force_login(user)
    assert client.get("/api/v1/me/").json()["email"] == user.email


def test_a_role_without_api_access_is_refused(api):
    RolePolicy.objects.filter(role="user").update(api_access=False)
    response = api.get("/api/v1/me/")
    assert response.status_code == 403 and response.json()["error"]["code"] == "api_access_denied"


def test_me_shows_role_usage_and_what_is_left(api, user, demo_bot):
    RolePolicy.objects.filter(role="user").update(messages_per_day=10)
    MessageFactory(conversation=ConversationFactory(owner=user, bot=demo_bot))
    me = api.get("/api/v1/me/").json()
    assert me["role"] == "user" and me["used_today"]["messages"] == 1
    assert me["limits"]["messages_per_day"] == 10 and me["left_today"]["messages_per_day"] == 9


def test_bots_lists_only_usable_ones(api, demo_bot):
    BotFactory(slug="off", is_active=False)
    assert [b["slug"] for b in api.get("/api/v1/bots/").json()] == ["demo"]


def test_conversations_list_paginates_and_searches(api, user, other_user, demo_bot):
    for i in range(25):
        ConversationFactory(owner=user, bot=demo_bot, title=f"chat {i}")
    about = ConversationFactory(owner=user, bot=demo_bot, title="Holiday plans")
    hidden = ConversationFactory(owner=user, bot=demo_bot, title="untitled")
    MessageFactory(conversation=hidden, content="the secret word is Marzipan")
    ConversationFactory(owner=other_user, bot=demo_bot, title="Holiday of someone else")
    page = api.get("/api/v1/conversations/").json()
    # No total (issue #20: counting costs as much as the page); one row past it tells `next`.
    assert "count" not in page and len(page["results"]) == 20 and page["next"]
    rest = api.get(page["next"]).json()
    assert len(rest["results"]) == 7 and rest["next"] is None and rest["previous"]
    found = api.get("/api/v1/conversations/", {"search": "holiday"}).json()
    assert [c["id"] for c in found["results"]] == [str(about.pk)]
    found = api.get("/api/v1/conversations/", {"search": "marzipan"}).json()
    assert [c["id"] for c in found["results"]] == [str(hidden.pk)]


def test_conversation_list_queries_do_not_grow(api, user, demo_bot, django_assert_max_num_queries):
    for _ in range(20):
        MessageFactory(conversation=ConversationFactory(owner=user, bot=demo_bot))
    with django_assert_max_num_queries(8):
        api.get("/api/v1/conversations/")


def test_create_rename_and_delete_a_conversation(api, demo_bot):
    created = api.post("/api/v1/conversations/", {"bot": "demo", "title": "API chat"}, format="json")
    assert created.status_code == 201 and created.json()["bot"] == "demo"
    cid = created.json()["id"]
    renamed = api.patch(f"/api/v1/conversations/{cid}/", {"title": "  Renamed  "}, format="json")
    assert renamed.json()["title"] == "Renamed"
    assert api.patch(f"/api/v1/conversations/{cid}/", {"title": ""}, format="json").status_code == 400
    assert api.delete(f"/api/v1/conversations/{cid}/").status_code == 204
    # Deleting moves it to the trash (tests/test_trash.py covers restoring and emptying).
    assert Conversation.objects.get(pk=cid).deleted_at is not None


@pytest.mark.parametrize("body, status, code", [
    ("not json", 400, "parse_error"),
    ('["a list"]', 400, "invalid"),
    ('{"content": 5}', 400, "invalid"),
    ('{"content": "hi", "role": "admin"}', 400, "invalid"),
    ('{"content": "   "}', 400, "empty"),
    ('{"content": "hi", "client_id": "nope"}', 400, "invalid"),
])
def test_bad_bodies_get_a_readable_400(api, user, demo_bot, body, status, code):
    conversation = ConversationFactory(owner=user, bot=demo_bot)
    response = api.post(f"/api/v1/conversations/{conversation.pk}/messages/", body,
                        content_type="application/json")
    assert response.status_code == status
    assert response.json()["error"]["code"] == code and response.json()["error"]["message"]
    assert not Message.objects.exists()


def test_a_huge_body_is_a_413(api, user, demo_bot, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    conversation = ConversationFactory(owner=user, bot=demo_bot)
    response = api.post(f"/api/v1/conversations/{conversation.pk}/messages/",
                        {"content": "x" * 5000}, format="json")
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_large"


def test_over_quota_is_a_429_with_retry_after(api, user, demo_bot):
    RolePolicy.objects.filter(role="user").update(messages_per_day=0)
    conversation = ConversationFactory(owner=user, bot=demo_bot)
    response = api.post(f"/api/v1/conversations/{conversation.pk}/messages/", {"content": "hi"},
                        format="json")
    assert response.status_code == 429 and int(response["Retry-After"]) > 0
    assert response.json()["error"]["code"] == "quota"
    assert not Message.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_send_is_accepted_and_the_reply_completes(api, user, demo_bot):
    conversation = ConversationFactory(owner=user, bot=demo_bot)
    client_id = str(uuid.uuid4())
    response = api.post(f"/api/v1/conversations/{conversation.pk}/messages/",
                        {"content": "Hello API", "client_id": client_id}, format="json")
    assert response.status_code == 202
    body = response.json()
    assert body["message"]["content"] == "Hello API" and body["reply"]["status"] == "streaming"
    reply_id = body["reply"]["id"]
    wait_for(lambda: api.get(f"/api/v1/messages/{reply_id}/").json()["status"] == "complete")
    again = api.post(f"/api/v1/conversations/{conversation.pk}/messages/",
                     {"content": "Hello API", "client_id": client_id}, format="json")
    assert again.json()["reply"]["id"] == reply_id
    listed = api.get(f"/api/v1/conversations/{conversation.pk}/messages/").json()["results"]
    assert [m["role"] for m in listed] == ["user", "assistant"]
    regenerated = api.post(f"/api/v1/messages/{reply_id}/regenerate/")
    assert regenerated.status_code == 202
    new_id = regenerated.json()["reply"]["id"]
    wait_for(lambda: api.get(f"/api/v1/messages/{new_id}/").json()["status"] == "complete")
    listed = api.get(f"/api/v1/conversations/{conversation.pk}/messages/").json()["results"]
    assert [m["id"] for m in listed][-1] == new_id and len(listed) == 2


def sse_events(raw: str) -> list[tuple[str, dict]]:
    events = []
    for block in raw.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":"))
        if "event" in lines:
            events.append((lines["event"], json.loads(lines["data"])))
    return events


async def read_stream(client: AsyncClient, url: str, headers: dict, stop_after: int | None = None) -> str:
    response = await client.get(url, headers=headers)
    assert response.status_code == 200 and response["Content-Type"] == "text/event-stream"
    chunks = []
    async for chunk in response.streaming_content:
        chunks.append(chunk.decode())
        if stop_after is not None and len(chunks) >= stop_after:
            break
    return "".join(chunks)


@pytest.mark.django_db(transaction=True)
async def test_the_reply_streams_over_sse_and_a_client_can_reattach(user, openai_bot, fake_openai):
    fake_openai.configure(rate=60, tokens=40)
    raw = await sync_to_async(api_token_create)(user=user, name="sse")
    headers = {"Authorization": f"Bearer {raw[1]}"}
    client = AsyncClient()
    conversation = await sync_to_async(ConversationFactory)(owner=user, bot=openai_bot)
    sent = await client.post(f"/api/v1/conversations/{conversation.pk}/messages/",
                             {"content": "stream me"}, content_type="application/json", headers=headers)
    assert sent.status_code == 202
    url = sent.json()["stream_url"]
    first = await read_stream(client, url, headers, stop_after=4)  # leave mid-reply
    await asyncio.sleep(0.2)
    events = sse_events(await read_stream(client, url, headers))
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "snapshot" and kinds[-1] == "done"
    text = events[0][1]["content"] + "".join(d["text"] for k, d in events if k == "delta")
    reply = await Message.objects.aget(pk=sent.json()["reply"]["id"])
    assert reply.status == "complete" and text == reply.content
    assert events[-1][1]["status"] == "complete"
    assert first.startswith("event: snapshot")


@pytest.mark.django_db(transaction=True)
async def test_stop_over_the_api(user, openai_bot, fake_openai):
    fake_openai.configure(rate=20, tokens=200)
    raw = (await sync_to_async(api_token_create)(user=user, name="stop"))[1]
    headers = {"Authorization": f"Bearer {raw}"}
    client = AsyncClient()
    conversation = await sync_to_async(ConversationFactory)(owner=user, bot=openai_bot)
    sent = await client.post(f"/api/v1/conversations/{conversation.pk}/messages/",
                             {"content": "long"}, content_type="application/json", headers=headers)
    reply_id = sent.json()["reply"]["id"]
    await asyncio.sleep(0.5)
    stopped = await client.post(f"/api/v1/messages/{reply_id}/stop/", headers=headers)
    assert stopped.status_code == 202
    for _ in range(50):
        reply = await Message.objects.aget(pk=reply_id)
        if reply.status != "streaming":
            break
        await asyncio.sleep(0.05)
    assert reply.status == "cancelled" and reply.content.startswith("Echo: long")



def test_someone_elses_objects_are_404(api, other_user, demo_bot):
    theirs = ConversationFactory(owner=other_user, bot=demo_bot, title="private title")
    message = MessageFactory(conversation=theirs, content="private words")
    for method, url in [
        ("get", f"/api/v1/conversations/{theirs.pk}/"),
        ("patch", f"/api/v1/conversations/{theirs.pk}/"),
        ("delete", f"/api/v1/conversations/{theirs.pk}/"),
        ("get", f"/api/v1/conversations/{theirs.pk}/messages/"),
        ("post", f"/api/v1/conversations/{theirs.pk}/messages/"),
        ("get", f"/api/v1/messages/{message.pk}/"),
        ("get", f"/api/v1/messages/{message.pk}/stream/"),
        ("post", f"/api/v1/messages/{message.pk}/stop/"),
        ("post", f"/api/v1/messages/{message.pk}/regenerate/"),
    ]:
        response = getattr(api, method)(url, {"title": "x", "content": "x"}, format="json")
        assert response.status_code == 404, (method, url, response.status_code)
        assert b"private" not in response.content
    assert Conversation.objects.get(pk=theirs.pk).title == "private title"


def test_the_schema_and_docs_are_served(client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200 and b"/api/v1/messages/{message_id}/stream/" in schema.content
    assert client.get("/api/docs/").status_code == 200


@pytest.mark.django_db(transaction=True)
async def test_a_stream_on_the_process_writing_the_reply_reads_it_directly(
    user, openai_bot, fake_openai, monkeypatch
):
    """The reply runs on this event loop: the SSE stream is fed by its writer, and nothing of it
    goes through the channel layer (no group publish, no snapshot request)."""
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    published: list[str] = []
    real_group_send = layer.group_send

    async def counting(group, message):
        published.append(group)
        return await real_group_send(group, message)

    monkeypatch.setattr(layer, "group_send", counting)
    fake_openai.configure(rate=100, tokens=30)
    raw = await sync_to_async(api_token_create)(user=user, name="sse")
    headers = {"Authorization": f"Bearer {raw[1]}"}
    client = AsyncClient()
    conversation = await sync_to_async(ConversationFactory)(owner=user, bot=openai_bot)
    sent = await client.post(f"/api/v1/conversations/{conversation.pk}/messages/",
                             {"content": "local"}, content_type="application/json", headers=headers)
    events = sse_events(await read_stream(client, sent.json()["stream_url"], headers))
    assert [k for k, _ in events][0] == "snapshot" and events[-1][0] == "done"
    deltas = [d["seq"] for k, d in events if k == "delta"]
    assert deltas == list(range(events[0][1]["seq"] + 1, events[0][1]["seq"] + 1 + len(deltas)))
    reply = await Message.objects.aget(pk=sent.json()["reply"]["id"])
    text = events[0][1]["content"] + "".join(d["text"] for k, d in events if k == "delta")
    assert text == reply.content and reply.status == "complete"
    assert published == []
