"""Every object endpoint, for every role, against another person's objects: 404, never data.

Later endpoints join by adding a row to HTTP_ENDPOINTS or SOCKET_ENDPOINTS.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from accounts.models import RolePolicy
from accounts.services.tokens import api_token_authenticate, api_token_create
from chatlab_site.asgi import application
from conversations.models import Conversation, ImportJob, Message
from conversations.services.messages import message_send
from tests.factories import UserFactory
from tests.test_consumer import ORIGIN

ROLES = ["guest", "user", "admin"]
SECRET = "the victim's private words"


@dataclass(frozen=True)
class Victim:
    conversation: str
    reply: str
    token_id: int
    token: str
    message: str = ""
    import_job: str = ""


@pytest.fixture
def victim(demo_bot) -> Victim:
    owner = UserFactory()
    sent = message_send(user=owner, content=SECRET)
    Message.objects.filter(pk=sent.reply.pk).update(status="complete", content=SECRET)
    token, raw = api_token_create(user=owner, name=SECRET)
    job = ImportJob.objects.create(owner=owner, filename=SECRET, status="done")
    return Victim(str(sent.conversation.pk), str(sent.reply.pk), token.pk, raw,
                  message=str(sent.user_message.pk), import_job=str(job.pk))


def actor_client(role: str) -> Client:
    client = Client()
    if role == "guest":
        client.get("/")  # a guest is a visitor with a session
        return client
    person = UserFactory()
    if role == "admin":
        person.groups.add(RolePolicy.objects.get(role="admin").group)
    client.force_login(person)
    return client


@dataclass(frozen=True)
class HttpEndpoint:
    name: str
    method: str
    path: str


HTTP_ENDPOINTS = [
    HttpEndpoint("conversation page", "get", "/c/{v.conversation}/"),
    HttpEndpoint("revoke token", "post", "/accounts/tokens/{v.token_id}/revoke/"),
    HttpEndpoint("api conversation", "get", "/api/v1/conversations/{v.conversation}/"),
    HttpEndpoint("api rename", "patch", "/api/v1/conversations/{v.conversation}/"),
    HttpEndpoint("api delete", "delete", "/api/v1/conversations/{v.conversation}/"),
    HttpEndpoint("api messages", "get", "/api/v1/conversations/{v.conversation}/messages/"),
    HttpEndpoint("api send", "post", "/api/v1/conversations/{v.conversation}/messages/"),
    HttpEndpoint("api message", "get", "/api/v1/messages/{v.reply}/"),
    HttpEndpoint("api stream", "get", "/api/v1/messages/{v.reply}/stream/"),
    HttpEndpoint("api stop", "post", "/api/v1/messages/{v.reply}/stop/"),
    HttpEndpoint("api regenerate", "post", "/api/v1/messages/{v.reply}/regenerate/"),
    # Conversation memory (issue #6)
    HttpEndpoint("conversation action", "post", "/c/{v.conversation}/action/"),
    HttpEndpoint("conversation export page", "get", "/c/{v.conversation}/export.json"),
    HttpEndpoint("trash restore page", "post", "/trash/{v.conversation}/restore/"),
    HttpEndpoint("trash delete page", "post", "/trash/{v.conversation}/delete/"),
    HttpEndpoint("api restore", "post", "/api/v1/conversations/{v.conversation}/restore/"),
    HttpEndpoint("api export", "get", "/api/v1/conversations/{v.conversation}/export/"),
    HttpEndpoint("api trash delete", "delete", "/api/v1/trash/{v.conversation}/"),
    HttpEndpoint("api edit", "post", "/api/v1/messages/{v.message}/edit/"),
    HttpEndpoint("api versions", "get", "/api/v1/messages/{v.reply}/versions/"),
    HttpEndpoint("api import", "get", "/api/v1/imports/{v.import_job}/"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", HTTP_ENDPOINTS, ids=lambda e: e.name)
def test_http_endpoints_hide_other_peoples_objects(role, endpoint, victim):
    client = actor_client(role)
    path = endpoint.path.format(v=victim)
    if endpoint.method == "get":
        response = client.get(path)
    else:
        response = getattr(client, endpoint.method)(
            path, data='{"title": "x", "content": "x"}', content_type="application/json"
        )
    if role == "guest" and response.status_code == 302:
        assert "/accounts/login/" in response["Location"]  # pages for members only
    elif role == "guest" and endpoint.path.startswith("/api/"):
        assert response.status_code in (401, 403)  # guests have no API access at all
    else:
        assert response.status_code == 404
    assert SECRET.encode() not in response.content
    # Nothing changed hands or state.
    assert api_token_authenticate(victim.token) is not None
    assert Message.objects.get(pk=victim.reply).superseded_at is None
    assert Message.objects.filter(conversation_id=victim.conversation).count() == 2
    assert Conversation.objects.get(pk=victim.conversation).deleted_at is None


@dataclass(frozen=True)
class SocketEndpoint:
    name: str
    frame: dict


SOCKET_ENDPOINTS = [
    SocketEndpoint("stop", {"type": "stop", "id": "{reply}"}),
    SocketEndpoint("regenerate", {"type": "regenerate", "id": "{reply}"}),
    SocketEndpoint("edit", {"type": "edit", "id": "{message}", "content": "mine now"}),
]


async def socket_for(client: Client, path: str) -> WebsocketCommunicator:
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    return WebsocketCommunicator(application, path, headers=[ORIGIN, (b"cookie", cookie)])


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("role", ROLES)
async def test_following_someone_elses_conversation_is_refused(role, victim):
    client = await sync_to_async(actor_client)(role)
    comm = await socket_for(client, f"/ws/chat/{victim.conversation}/")
    connected, code = await comm.connect()
    assert not connected and code == 4404


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", SOCKET_ENDPOINTS, ids=lambda e: e.name)
async def test_socket_frames_on_someone_elses_objects_are_refused(role, endpoint, victim):
    client = await sync_to_async(actor_client)(role)
    comm = await socket_for(client, "/ws/chat/")
    assert (await comm.connect())[0]
    frame = {k: (v.format(reply=victim.reply, message=victim.message) if isinstance(v, str) else v)
             for k, v in endpoint.frame.items()}
    await comm.send_json_to(frame)
    answer = await comm.receive_json_from()
    assert answer["type"] == "error" and answer["code"] == "not_found"
    assert SECRET not in str(answer)
    reply = await Message.objects.aget(pk=victim.reply)
    assert reply.status == "complete" and reply.superseded_at is None
    await comm.disconnect()


# Images: someone else's job or picture is a 404 on every path, the media URL included ----------

@dataclass(frozen=True)
class ImageVictim:
    job: str
    image: str
    file: str
    thumbnail: str
    conversation: str


@pytest.fixture
def image_victim(demo_bot, settings, tmp_path, monkeypatch) -> ImageVictim:
    from conversations.models import Conversation
    from imaging.models import ImageModel
    from imaging.services import image_job_create

    settings.IMAGING_EAGER_IN_THREAD = False
    settings.MEDIA_ROOT = str(tmp_path / "media")
    monkeypatch.setattr("imaging.services.jobs.after_commit", lambda callback: callback())
    ImageModel.objects.update_or_create(slug="demo", defaults={"name": "Demo", "provider": None,
                                                                "is_default": True})
    owner = UserFactory()
    conversation = Conversation.objects.create(owner=owner, bot=demo_bot, title=SECRET)
    job = image_job_create(user=owner, prompt=SECRET, conversation=conversation)
    image = job.images.get()
    return ImageVictim(str(job.pk), str(image.pk), image.file, image.thumbnail,
                       str(conversation.pk))


IMAGE_ENDPOINTS = [
    HttpEndpoint("api image job", "get", "/api/v1/images/jobs/{v.job}/"),
    HttpEndpoint("api image", "get", "/api/v1/images/{v.image}/"),
    HttpEndpoint("api image delete", "delete", "/api/v1/images/{v.image}/"),
    HttpEndpoint("api image file", "get", "/api/v1/images/{v.image}/file/"),
    HttpEndpoint("api image in their conversation", "post", "/api/v1/images/jobs/"),
    HttpEndpoint("image page file", "get", "/images/{v.image}/file/"),
    HttpEndpoint("image page download", "get", "/images/{v.image}/file/?download=1"),
    HttpEndpoint("image page thumbnail", "get", "/images/{v.image}/thumbnail/"),
    HttpEndpoint("image page delete", "post", "/images/{v.image}/delete/"),
    HttpEndpoint("image job state", "get", "/images/jobs/{v.job}/"),
    HttpEndpoint("media file", "get", "/media/{v.file}"),
    HttpEndpoint("media thumbnail", "get", "/media/{v.thumbnail}"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", IMAGE_ENDPOINTS, ids=lambda e: e.name)
def test_image_endpoints_hide_other_peoples_images(role, endpoint, image_victim):
    from django.core.files.storage import storages

    from imaging.models import GeneratedImage, ImageJob

    client = actor_client(role)
    path = endpoint.path.format(v=image_victim)
    if endpoint.method == "get":
        response = client.get(path)
    else:
        body = f'{{"prompt": "x", "conversation": "{image_victim.conversation}"}}'
        response = getattr(client, endpoint.method)(path, data=body,
                                                    content_type="application/json")
    if role == "guest" and response.status_code == 302:
        assert "/accounts/login/" in response["Location"]
    elif role == "guest" and endpoint.path.startswith("/api/"):
        assert response.status_code in (401, 403)
    else:
        assert response.status_code == 404, response.content[:200]
    content = b"".join(response.streaming_content) if response.streaming else response.content
    assert SECRET.encode() not in content and b"PNG" not in content[:8]
    assert GeneratedImage.objects.filter(pk=image_victim.image).exists()
    assert storages["default"].exists(image_victim.file)
    assert ImageJob.objects.count() == 1
