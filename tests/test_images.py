"""Image jobs end to end in one process: the demo drawing, the OpenAI images API through the fake
server and the official SDK, storage, the REST API, bad input and quotas."""

from __future__ import annotations

import base64
import json
import re

import pytest
from django.core.files.storage import storages

from accounts.models import RolePolicy
from imaging.models import GeneratedImage, ImageJob
from imaging.services import image_job_create
from imaging.services.run import image_job_run
from tests.fakes.openai_server import Behaviour
from tests.images_support import (  # noqa: F401
    _images_inline, dalle2, dalle3, demo_images, fake_provider, gpt_image, picture,
)

pytestmark = pytest.mark.django_db

JOBS = "/api/v1/images/jobs/"


def post_job(client, **body):
    return client.post(JOBS, data=json.dumps(body), content_type="application/json")


def test_the_demo_draws_a_picture_offline_with_a_thumbnail(user, demo_images):
    job = image_job_create(user=user, prompt="a lighthouse at dusk", size="768x512", count=2)
    job.refresh_from_db()
    assert job.status == "done" and job.progress == 100 and job.error == ""
    assert job.started_at and job.finished_at
    images = list(job.images.order_by("index"))
    assert len(images) == 2
    storage = storages["default"]
    for image in images:
        full = picture(storage.open(image.file).read())
        assert (full.format, full.size) == ("PNG", (768, 512))
        thumb = picture(storage.open(image.thumbnail).read())
        assert thumb.format == "WEBP" and max(thumb.size) <= 384
        # Server-made names: nothing of the prompt or the person in them.
        assert image.file.startswith("images/") and "lighthouse" not in image.file
        assert re.fullmatch(r"images/\d{4}/\d{2}/[0-9a-f]{32}\.png", image.file)
    assert images[0].file != images[1].file


def test_the_api_makes_follows_lists_serves_and_deletes_images(logged_in, user, demo_images):
    response = post_job(logged_in, prompt="three red balloons")
    assert response.status_code == 202, response.content
    job = response.json()
    assert job["status"] == "done" and job["model"] == "demo" and job["size"] == "512x512"
    followed = logged_in.get(job["url"]).json()
    assert followed["images"] and followed["progress"] == 100
    image = followed["images"][0]
    listed = logged_in.get("/api/v1/images/").json()
    assert [i["id"] for i in listed["results"]] == [image["id"]]
    assert logged_in.get(f"/api/v1/images/{image['id']}/").json()["width"] == 512

    file = logged_in.get(f"/api/v1/images/{image['id']}/file/", HTTP_ACCEPT="image/png")
    assert file.status_code == 200 and file["Content-Type"] == "image/png"
    assert picture(b"".join(file.streaming_content)).size == (512, 512)
    page_file = logged_in.get(image["download_url"])
    assert page_file.status_code == 200 and "attachment" in page_file["Content-Disposition"]
    thumb = logged_in.get(image["thumbnail_url"])
    assert thumb["Content-Type"] == "image/webp"

    stored = GeneratedImage.objects.get(pk=image["id"])
    assert logged_in.delete(f"/api/v1/images/{image['id']}/").status_code == 204
    assert not storages["default"].exists(stored.file)
    assert not storages["default"].exists(stored.thumbnail)
    assert logged_in.get(image["url"]).status_code == 404


def test_the_models_endpoint_says_what_each_model_offers(logged_in, demo_images, dalle3, gpt_image):
    models = {m["slug"]: m for m in logged_in.get("/api/v1/images/models/").json()}
    assert models["dall-e-3"]["sizes"] == ["1024x1024", "1792x1024", "1024x1792"]
    assert models["dall-e-3"]["qualities"] == ["standard", "hd"]
    assert models["dall-e-3"]["max_count"] == 1
    assert models["gpt-image"]["max_count"] == 4 and "high" in models["gpt-image"]["qualities"]
    assert models["demo"]["is_default"]


@pytest.mark.parametrize("body, code", [
    ({"prompt": ""}, "empty"),
    ({"prompt": "   "}, "empty"),
    ({"prompt": "x" * 4001}, "too_long"),
    ({"prompt": "a cat", "size": "333x333"}, "invalid_size"),
    ({"prompt": "a cat", "quality": "ultra"}, "invalid_quality"),
    ({"prompt": "a cat", "count": 5}, "too_many"),
    ({"prompt": "a cat", "count": 11}, "invalid"),
    ({"prompt": "a cat", "count": 0}, "invalid"),
    ({"prompt": "a cat", "model": "nope"}, "unknown_model"),
    ({"prompt": "a cat", "style": "vivid"}, "invalid"),
    ({"prompt": 5}, "invalid"),
])
def test_bad_requests_are_refused_with_a_reason_and_cost_nothing(logged_in, demo_images, body, code):
    response = post_job(logged_in, **body)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == code and error["message"]
    assert not ImageJob.objects.exists()


def test_a_size_the_chosen_model_does_not_offer_is_refused(logged_in, dalle3):
    response = post_job(logged_in, prompt="a cat", model="dall-e-3", size="512x512")
    assert response.status_code == 400
    assert "1792x1024" in response.json()["error"]["message"]
    assert post_job(logged_in, prompt="a cat", model="dall-e-3", count=2).json()["error"]["code"] == "too_many"


def test_the_daily_image_quota_holds_and_failed_jobs_are_not_charged(
        logged_in, user, gpt_image, fake_openai):
    RolePolicy.objects.filter(role="user").update(images_per_day=3)
    fake_openai.script_images(Behaviour(status=400, code="content_policy_violation",
                                        text="Your request was rejected by the safety system."))
    failed = post_job(logged_in, prompt="something refused", model="gpt-image").json()
    assert failed["status"] == "failed"
    assert post_job(logged_in, prompt="two dogs", model="gpt-image", count=2).json()["status"] == "done"
    over = post_job(logged_in, prompt="two more", model="gpt-image", count=2)
    assert over.status_code == 429 and over.json()["error"]["code"] == "quota"
    assert "1 image left" in over.json()["error"]["message"] and int(over["Retry-After"]) > 0
    assert post_job(logged_in, prompt="one more", model="gpt-image").json()["status"] == "done"
    last = post_job(logged_in, prompt="and another", model="gpt-image")
    assert last.status_code == 429 and "used all 3 images" in last.json()["error"]["message"]
    assert ImageJob.objects.filter(owner=user).count() == 3


def test_a_role_without_images_may_not_make_any(logged_in, demo_images):
    RolePolicy.objects.filter(role="user").update(images_per_day=0)
    response = post_job(logged_in, prompt="a cat")
    assert response.status_code == 403 and response.json()["error"]["code"] == "images_not_allowed"
    assert logged_in.get("/api/v1/images/models/").json() == []


def test_a_model_can_be_kept_for_some_roles(logged_in, demo_images, gpt_image):
    gpt_image.roles.add(RolePolicy.objects.get(role="admin"))
    slugs = [m["slug"] for m in logged_in.get("/api/v1/images/models/").json()]
    assert slugs == ["demo"]
    assert post_job(logged_in, prompt="a cat", model="gpt-image").json()["error"]["code"] == "unknown_model"


# The OpenAI images API through the fake server --------------------------------------------

def test_gpt_image_answers_base64_through_the_sdk(logged_in, gpt_image, fake_openai):
    job = post_job(logged_in, prompt="a watercolour fox", model="gpt-image", size="1536x1024",
                   quality="high", count=2).json()
    assert job["status"] == "done" and len(job["images"]) == 2, job
    request = fake_openai.image_requests[-1]
    assert request["authorization"] == "Bearer sk-test-images"
    assert request["body"]["model"] == "gpt-image-1" and request["body"]["n"] == 2
    assert request["body"]["size"] == "1536x1024" and request["body"]["quality"] == "high"
    assert "response_format" not in request["body"]  # gpt-image refuses it
    assert job["images"][0]["width"] == 1536 // 8


def test_dall_e_3_keeps_the_revised_prompt(logged_in, dalle3, fake_openai):
    job = post_job(logged_in, prompt="a robot", model="dall-e-3", quality="hd").json()
    assert job["status"] == "done"
    assert job["revised_prompt"] == "A detailed picture of a robot"
    assert fake_openai.image_requests[-1]["body"]["response_format"] == "b64_json"


@pytest.mark.parametrize("behaviour, code, words", [
    (Behaviour(status=400, code="content_policy_violation",
               text="Your request was rejected as a result of our safety system."),
     "content_policy", "content policy"),
    (Behaviour(status=400, code="moderation_blocked", text="Request blocked."),
     "content_policy", "content policy"),
    (Behaviour(status=429, text="Rate limit reached"), "rate_limited", "rate-limiting"),
    (Behaviour(status=500, text="boom"), "upstream_error", "internal error"),
    (Behaviour(status=401, text="bad key"), "auth", "API key"),
    (Behaviour(image_b64=base64.b64encode(b"<html>not a picture</html>").decode()),
     "not_an_image", "not an image"),
    (Behaviour(image_b64="%%% not base64 %%%"), "not_an_image", "not an image"),
])
def test_upstream_failures_reach_the_person_as_a_reason(logged_in, user, gpt_image, fake_openai,
                                                       behaviour, code, words):
    fake_openai.script_images(behaviour)
    job = post_job(logged_in, prompt="a cat", model="gpt-image").json()
    assert job["status"] == "failed" and job["error_code"] == code, job
    assert words in job["error"] and job["images"] == []
    assert not GeneratedImage.objects.exists()
    RolePolicy.objects.filter(role="user").update(images_per_day=1)
    assert post_job(logged_in, prompt="again", model="gpt-image").status_code == 202  # not charged


def test_a_size_the_provider_refuses_fails_the_job_readably(logged_in, fake_provider, fake_openai):
    from imaging.models import ImageModel

    ImageModel.objects.create(name="Odd", slug="odd", provider=fake_provider, model="dall-e-3",
                              sizes="640x480")
    job = post_job(logged_in, prompt="a cat", model="odd").json()
    assert job["status"] == "failed" and job["error_code"] == "bad_size"
    assert "does not offer the size 640x480" in job["error"]


def test_a_provider_that_does_not_answer_times_out(logged_in, gpt_image, fake_openai, settings):
    settings.CHATLAB_IMAGE_TIMEOUT = 1
    fake_openai.script_images(Behaviour(hang=True))
    job = post_job(logged_in, prompt="a cat", model="gpt-image").json()
    assert job["status"] == "failed" and job["error_code"] == "timeout"
    assert "did not answer in time" in job["error"]


def test_a_job_runs_once_even_when_delivered_twice(user, demo_images):
    job = image_job_create(user=user, prompt="a cat", dispatch=False)
    assert image_job_run(job_id=job.pk) is not None
    assert image_job_run(job_id=job.pk) is None
    assert GeneratedImage.objects.count() == 1


def test_in_the_embedded_mode_a_job_runs_beside_the_request(transactional_db, client, settings,
                                                           demo_images, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    from imaging.services import jobs
    from tests.factories import UserFactory

    settings.IMAGING_EAGER_IN_THREAD = True
    # A pool of its own: jobs other tests left running in this process must not queue it.
    own = ThreadPoolExecutor(max_workers=1)
    monkeypatch.setattr(jobs, "_executor", own)
    person = UserFactory()
    client.force_login(person)
    job = post_job(client, prompt="a slow cat").json()
    assert job["status"] in ("queued", "running", "done")
    import time

    deadline = time.monotonic() + 20
    while job["status"] != "done" and time.monotonic() < deadline:
        time.sleep(0.1)
        job = client.get(job["url"]).json()
    assert job["status"] == "done" and len(job["images"]) == 1
    own.shutdown(wait=True)


def test_the_owner_gets_the_media_url_and_the_gallery(logged_in, user, demo_images):
    job = image_job_create(user=user, prompt="a quiet harbour")
    image = job.images.get()
    media = logged_in.get(f"/media/{image.file}")
    assert media.status_code == 200 and media["Content-Type"] == "image/png"
    assert logged_in.get(f"/media/{image.thumbnail}")["Content-Type"] == "image/webp"
    page = logged_in.get("/images/").content.decode()
    assert "a quiet harbour" in page and f"/images/{image.pk}/thumbnail/" in page
    deleted = logged_in.post(f"/images/{image.pk}/delete/")
    assert deleted.status_code == 302 and deleted["Location"] == "/images/"
    assert not GeneratedImage.objects.exists()
    assert not storages["default"].exists(image.file)
    assert "No images yet" in logged_in.get("/images/").content.decode()


def test_the_chat_page_shows_the_conversations_images(logged_in, user, demo_bot, demo_images):
    from conversations.models import Conversation

    conversation = Conversation.objects.create(owner=user, bot=demo_bot, title="pictures")
    image_job_create(user=user, prompt="a green door", conversation=conversation)
    page = logged_in.get(f"/c/{conversation.pk}/").content.decode()
    start = page.index('id="chat-images"')
    shown = json.loads(page[page.index(">", start) + 1: page.index("</script>", start)])
    assert [j["prompt"] for j in shown] == ["a green door"]
    assert shown[0]["images"][0]["thumbnail_url"].endswith("/thumbnail/")
    assert 'id="image-button"' in page and "chat/images.js" in page


def test_channels_without_a_socket_hear_when_a_job_ends(user, demo_images, gpt_image, fake_openai):
    from imaging.hooks import image_job_finished

    heard = []

    def receiver(sender, job, **kwargs):
        heard.append((job.channel, job.status, job.images.count(), job.error_code))

    image_job_finished.connect(receiver)
    try:
        image_job_create(user=user, prompt="a cat", channel="telegram")
        fake_openai.script_images(Behaviour(status=400, code="content_policy_violation", text="no"))
        image_job_create(user=user, prompt="a cat", model="gpt-image", channel="slack")
    finally:
        image_job_finished.disconnect(receiver)
    assert heard == [("telegram", "done", 1, ""), ("slack", "failed", 0, "content_policy")]


def test_the_sweep_fails_jobs_a_dead_worker_left(user, demo_images, settings):
    from datetime import timedelta

    from django.utils import timezone

    from accounts.services.quotas import images_used_today
    from imaging.services.sweep import image_jobs_sweep

    settings.CHATLAB_IMAGE_TIMEOUT = 10
    fresh = image_job_create(user=user, prompt="fresh", dispatch=False)
    dead = image_job_create(user=user, prompt="dead", dispatch=False)
    ImageJob.objects.filter(pk=dead.pk).update(status="running",
                                               started_at=timezone.now() - timedelta(minutes=5))
    assert images_used_today(user) == 2
    assert image_jobs_sweep() == 1
    dead.refresh_from_db()
    assert dead.status == "failed" and dead.error_code == "interrupted"
    assert ImageJob.objects.get(pk=fresh.pk).status == "queued"
    assert images_used_today(user) == 1


def test_chat_bots_pick_their_image_model(user, demo_bot, demo_images, gpt_image):
    from conversations.services.errors import ChatError
    from imaging.services import image_model_pick
    from tests.factories import BotFactory

    artist = BotFactory(slug="artist")
    gpt_image.bots.add(artist)
    assert image_model_pick(user=user, slug=None, bot=artist) == gpt_image
    assert image_model_pick(user=user, slug=None, bot=demo_bot) == demo_images
    with pytest.raises(ChatError):  # kept for the artist bot's conversations
        image_model_pick(user=user, slug="gpt-image", bot=demo_bot)
    demo_images.bots.add(artist)
    with pytest.raises(ChatError) as none_here:
        image_model_pick(user=user, slug=None, bot=demo_bot)
    assert none_here.value.code == "images_not_available" and none_here.value.status == 403


def test_deleting_the_account_removes_the_files(user, demo_images):
    job = image_job_create(user=user, prompt="a cat")
    image = job.images.get()
    user.delete()
    assert not storages["default"].exists(image.file)
    assert not storages["default"].exists(image.thumbnail)


def test_a_picture_too_large_to_decode_safely_is_refused(user, gpt_image, fake_openai):
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("1", (8000, 6000)).save(out, "PNG")  # small file, 48 megapixels
    fake_openai.script_images(Behaviour(image_b64=base64.b64encode(out.getvalue()).decode()))
    job = image_job_create(user=user, prompt="a cat", model="gpt-image")
    job.refresh_from_db()
    assert job.status == "failed" and job.error_code == "not_an_image"


def test_the_image_button_is_only_for_roles_that_make_images(logged_in, demo_bot, demo_images):
    assert 'id="image-button"' in logged_in.get("/").content.decode()
    RolePolicy.objects.filter(role="user").update(images_per_day=0)
    assert 'id="image-button"' not in logged_in.get("/").content.decode()


def test_admins_see_every_job_and_picture_in_the_admin(client, user, demo_images):
    from tests.factories import UserFactory

    job = image_job_create(user=user, prompt="someone's lighthouse")
    image = job.images.get()
    admin = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(admin)
    assert "someone" in client.get("/admin/imaging/imagejob/").content.decode()
    page = client.get(f"/admin/imaging/imagejob/{job.pk}/change/").content.decode()
    assert f"/admin/imaging/imagejob/image/{image.pk}/" in page
    assert client.get("/admin/imaging/imagemodel/add/").status_code == 200
    file = client.get(f"/admin/imaging/imagejob/image/{image.pk}/")
    assert file.status_code == 200 and file["Content-Type"] == "image/png"
    staff = UserFactory(is_staff=True)  # staff without the permission to view images
    client.force_login(staff)
    assert client.get(f"/admin/imaging/imagejob/image/{image.pk}/").status_code == 404


def test_todays_images_show_in_the_profile_and_the_api(user, demo_images):
    from django.test import Client
    from rest_framework.test import APIClient

    image_job_create(user=user, prompt="a lighthouse", count=2)
    api = APIClient()
    api.force_authenticate(user)
    me = api.get("/api/v1/me/").json()
    assert me["used_today"]["images"] == 2
    assert me["left_today"]["images_per_day"] == me["limits"]["images_per_day"] - 2
    page = Client()
    page.force_login(user)
    profile = page.get("/accounts/profile/").content.decode()
    assert "<td>2</td>" in profile.replace(" ", "")
