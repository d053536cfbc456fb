"""Text no door may store (NUL, lone surrogates), ids that are not UUIDs and bodies nested too
deeply: every entry point answers with its own clear error, nothing is stored, a socket stays
open. NUL fails only on PostgreSQL (CI runs these there; locally set DATABASE_URL), the rest
on SQLite too."""

from __future__ import annotations

import json
import uuid

import pytest
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import AsyncClient, Client
from rest_framework.test import APIClient

from accounts.models import User
from accounts.services.tokens import api_token_create
from chatlab_site.asgi import application
from conversations.models import Message
from conversations.services.errors import ChatError
from conversations.services.messages import message_send
from tests.factories import ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db(transaction=True)
ORIGIN = (b"origin", b"http://localhost")
NUL = "before\x00after"
# JSON's escape for half a UTF-16 pair: json.loads makes it a lone surrogate.
SURROGATE_JSON = '"\\ud800 alone"'
DEEP_FRAME = '{"type": "send", "content": ' + "[" * 5_000 + "]" * 5_000 + "}"


async def _socket(user: User | None) -> WebsocketCommunicator:
    headers = [ORIGIN]
    if user is not None:
        client = Client()
        await sync_to_async(client.force_login)(user)
        headers.append((b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()))
    comm = WebsocketCommunicator(application, "/ws/chat/", headers=headers)
    connected, _ = await comm.connect()
    assert connected
    return comm


async def _refused_and_still_open(comm: WebsocketCommunicator, raw: str) -> dict:
    await comm.send_to(text_data=raw)
    frame = json.loads(await comm.receive_from(timeout=5))  # a close (1011) fails here
    # Still open and answering: the next frame gets its own answer.
    await comm.send_to(text_data='{"type": "no-such-frame"}')
    assert json.loads(await comm.receive_from(timeout=5))["code"] == "invalid"
    return frame


def _frames() -> list[tuple[str, str]]:
    any_id = str(uuid.uuid4())
    return [
        ("send_nul", json.dumps({"type": "send", "content": NUL})),
        ("send_surrogate", '{"type": "send", "content": ' + SURROGATE_JSON + "}"),
        ("edit_nul", json.dumps({"type": "edit", "id": any_id, "content": NUL})),
        ("edit_surrogate", '{"type": "edit", "id": "' + any_id + '", "content": '
         + SURROGATE_JSON + "}"),
        ("bot_nul", json.dumps({"type": "send", "content": "hi", "bot": "demo\x00"})),
        ("client_id_surrogate", '{"type": "send", "content": "hi", "client_id": '
         + SURROGATE_JSON + "}"),
        ("image_prompt_nul", json.dumps({"type": "image", "prompt": NUL})),
        ("stop_bad_id", json.dumps({"type": "stop", "id": "not-a-uuid"})),
        ("regenerate_bad_id", json.dumps({"type": "regenerate", "id": "1 OR 1=1"})),
        ("edit_bad_id", json.dumps({"type": "edit", "id": 12, "content": "hi"})),
        ("deep", DEEP_FRAME),
    ]


@pytest.mark.parametrize("raw", [raw for _, raw in _frames()], ids=[n for n, _ in _frames()])
async def test_the_socket_refuses_a_bad_frame_and_stays_open(user, demo_bot, raw) -> None:
    comm = await _socket(user)
    frame = await _refused_and_still_open(comm, raw)
    assert frame["type"] == "error" and frame["code"] == "invalid", frame
    assert await Message.objects.acount() == 0
    await comm.disconnect()


@pytest.mark.parametrize("kind", ["stop", "regenerate", "edit"])
async def test_a_visitor_with_a_bad_id_gets_an_error_frame_and_no_guest_account(demo_bot,
                                                                                 kind) -> None:
    comm = await _socket(None)
    frame = await _refused_and_still_open(
        comm, json.dumps({"type": kind, "id": "nope", "content": "hi"}))
    assert frame["code"] == "invalid" and "UUID" in frame["message"]
    assert not await User.objects.aexists()
    await comm.disconnect()


async def test_the_error_names_the_character(user, demo_bot) -> None:
    comm = await _socket(user)
    nul = await _refused_and_still_open(comm, json.dumps({"type": "send", "content": NUL}))
    assert "NUL" in nul["message"]
    lone = await _refused_and_still_open(
        comm, '{"type": "send", "content": ' + SURROGATE_JSON + "}")
    assert "surrogate" in lone["message"]
    await comm.disconnect()


# REST -----------------------------------------------------------------------------------------

@pytest.fixture
def api(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=user, name='t')[1]}")
    return client


def _post(api: APIClient, path: str, raw: str):
    return api.generic("POST", path, raw, content_type="application/json")


@pytest.mark.parametrize("text", [json.dumps(NUL), SURROGATE_JSON], ids=["nul", "surrogate"])
def test_the_rest_api_refuses_the_same_text_with_the_same_words(api, user, demo_bot,
                                                               text) -> None:
    conversation = ConversationFactory(owner=user, bot=demo_bot)
    last = MessageFactory(conversation=conversation, role=Message.Role.USER, content="hi")
    before = Message.objects.count()
    for path in (f"/api/v1/conversations/{conversation.pk}/messages/",
                 f"/api/v1/messages/{last.pk}/edit/"):
        response = _post(api, path, '{"content": ' + text + "}")
        assert response.status_code == 400, response.content[:300]
        error = response.json()["error"]
        assert error["code"] == "invalid"
        assert ("NUL" in error["message"]) or ("surrogate" in error["message"])
    assert Message.objects.count() == before


def test_a_rest_body_nested_too_deeply_is_a_json_400(api, user, demo_bot) -> None:
    conversation = ConversationFactory(owner=user, bot=demo_bot)
    raw = '{"content": ' + "[" * 100_000 + "]" * 100_000 + "}"
    response = _post(api, f"/api/v1/conversations/{conversation.pk}/messages/", raw)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"
    assert "nested too deeply" in response.json()["error"]["message"]


# /v1 ------------------------------------------------------------------------------------------

async def _v1(user: User, raw: str):
    token = await sync_to_async(api_token_create)(user=user, name="v1")
    async with ThreadSensitiveContext():
        return await AsyncClient().post("/v1/chat/completions", raw,
                                        content_type="application/json",
                                        headers={"Authorization": f"Bearer {token[1]}"})


@pytest.mark.parametrize("raw, param", [
    (json.dumps({"model": "demo", "messages": [{"role": "user", "content": NUL}]}),
     "messages[0].content"),
    ('{"model": "demo", "messages": [{"role": "user", "content": ' + SURROGATE_JSON + "}]}",
     "messages[0].content"),
    (json.dumps({"model": "demo", "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": NUL}]}]}),
     "messages[1].content"),
    (json.dumps({"model": "demo\x00", "messages": [{"role": "user", "content": "hi"}]}),
     "model"),
], ids=["nul", "surrogate", "nul_in_a_part", "nul_in_model"])
async def test_v1_refuses_unstorable_text_in_openais_shape(user, demo_bot, raw, param) -> None:
    response = await _v1(user, raw)
    assert response.status_code == 400, response.content[:300]
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error" and error["param"] == param
    assert error["code"] == "invalid_text"
    assert await Message.objects.acount() == 0


async def test_a_v1_body_nested_too_deeply_is_an_openai_400(user, demo_bot) -> None:
    raw = '{"model": "demo", "messages": ' + "[" * 100_000 + "]" * 100_000 + "}"
    response = await _v1(user, raw)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


# The service every door stores through (messengers included) ------------------------------------

@pytest.mark.parametrize("text", [NUL, "\ud800"], ids=["nul", "surrogate"])
def test_message_send_itself_refuses_it(user, demo_bot, text) -> None:
    with pytest.raises(ChatError) as refused:
        message_send(user=user, content=text)
    assert refused.value.code == "invalid" and refused.value.status == 400
    assert Message.objects.count() == 0
