"""Images asked for over the chat socket: /image in a new or running conversation, progress as
"image" frames on every tab that follows it, refusals as error frames."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async

from accounts.models import RolePolicy
from conversations.models import Conversation
from imaging.models import ImageJob
from tests.factories import ConversationFactory
from tests.images_support import _images_inline, demo_images  # noqa: F401
from tests.test_consumer import connect, frames_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _beside_the_loop(settings):
    # The embedded mode for real: the job runs on a thread, progress goes through the layer.
    settings.IMAGING_EAGER_IN_THREAD = True


def done(frame):
    return frame.get("type") == "image" and frame["job"]["status"] in ("done", "failed")


async def test_image_in_a_new_chat_starts_the_conversation_and_streams_progress(
        user, demo_bot, demo_images):
    comm = await connect(user)
    assert (await comm.connect())[0]
    await comm.send_to(json.dumps({"type": "image", "prompt": "a red kite", "client_id": "c1",
                                   "bot": "demo"}))
    frames = await frames_until(comm, done, timeout=20)
    assert frames[0]["type"] == "conversation"
    conversation = await Conversation.objects.aget(pk=frames[0]["conversation"]["id"])
    assert conversation.title == "a red kite" and conversation.owner_id == user.pk
    images = [f for f in frames if f.get("type") == "image"]
    assert any(f.get("ref") == "c1" for f in images)
    final = images[-1]["job"]
    assert final["status"] == "done" and final["progress"] == 100
    assert final["conversation"] == str(conversation.pk)
    assert final["images"][0]["url"].startswith("/images/")
    await comm.disconnect()


async def test_every_tab_of_the_conversation_sees_the_image(user, demo_bot, demo_images):
    conversation = await sync_to_async(ConversationFactory)(owner=user, bot=demo_bot)
    path = f"/ws/chat/{conversation.pk}/"
    asking, watching = await connect(user, path), await connect(user, path)
    assert (await asking.connect())[0] and (await watching.connect())[0]
    await asking.send_to(json.dumps({"type": "image", "prompt": "/image is stripped by the page"}))
    await frames_until(asking, done, timeout=20)
    seen = await frames_until(watching, done, timeout=20)
    assert seen[-1]["job"]["status"] == "done"
    job = await ImageJob.objects.aget(conversation=conversation)
    assert job.channel == "web"
    await asking.disconnect()
    await watching.disconnect()


async def test_refusals_are_error_frames_and_leave_nothing_behind(user, demo_bot, demo_images):
    comm = await connect(user)
    assert (await comm.connect())[0]
    await comm.send_to(json.dumps({"type": "image", "prompt": "  ", "client_id": "c2"}))
    error = json.loads(await comm.receive_from(timeout=5))
    assert error == {"type": "error", "code": "empty", "message": "Describe the image you want.",
                     "ref": "c2"}
    await RolePolicy.objects.filter(role="user").aupdate(images_per_day=0)
    await comm.send_to(json.dumps({"type": "image", "prompt": "a cat", "client_id": "c3"}))
    error = json.loads(await comm.receive_from(timeout=5))
    assert error["code"] == "images_not_allowed" and error["ref"] == "c3"
    assert await Conversation.objects.acount() == 0 and await ImageJob.objects.acount() == 0
    await comm.disconnect()


async def test_guests_cannot_make_images(demo_bot, demo_images, client):
    from channels.testing import WebsocketCommunicator

    from chatlab_site.asgi import application
    from tests.test_consumer import ORIGIN

    await sync_to_async(client.get)("/")
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    comm = WebsocketCommunicator(application, "/ws/chat/", headers=[ORIGIN, (b"cookie", cookie)])
    assert (await comm.connect())[0]
    await comm.send_to(json.dumps({"type": "image", "prompt": "a cat", "client_id": "g"}))
    error = json.loads(await comm.receive_from(timeout=5))
    assert error["type"] == "error" and error["code"] == "images_not_allowed"
    assert await ImageJob.objects.acount() == 0
    await comm.disconnect()


async def test_a_visitor_asking_for_an_image_gets_no_guest_account(demo_bot, demo_images, client):
    from channels.testing import WebsocketCommunicator

    from accounts.models import User
    from chatlab_site.asgi import application
    from tests.test_consumer import ORIGIN

    await sync_to_async(client.get)("/")
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    comm = WebsocketCommunicator(application, "/ws/chat/", headers=[ORIGIN, (b"cookie", cookie)])
    assert (await comm.connect())[0]
    await comm.send_to(json.dumps({"type": "image", "prompt": "a cat", "client_id": "v"}))
    error = json.loads(await comm.receive_from(timeout=5))
    assert error["code"] == "images_not_allowed" and error["ref"] == "v"
    assert await User.objects.filter(is_guest=True).acount() == 0
    await comm.disconnect()
