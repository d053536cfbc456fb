"""Fixtures and helpers shared by the image tests."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from conversations.models import Provider
from imaging.models import ImageModel
from tests.factories import ProviderFactory


@pytest.fixture(autouse=True)
def _images_inline(settings, tmp_path, monkeypatch):
    # Jobs run inside the request here (the embedded mode's thread would not see the test's
    # transaction); media goes to a fresh directory per test.
    settings.IMAGING_EAGER_IN_THREAD = False
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.IMAGING_FETCH_PRIVATE_HOSTS = []
    monkeypatch.setattr("imaging.services.jobs.after_commit", lambda callback: callback())
    monkeypatch.setattr("imaging.services.files.after_commit", lambda callback: callback())


@pytest.fixture
def demo_images(db) -> ImageModel:
    model, _ = ImageModel.objects.update_or_create(
        slug="demo", defaults={"name": "Demo pictures", "model": "demo", "provider": None,
                               "is_default": True, "is_active": True, "max_count": 4})
    return model


@pytest.fixture
def fake_provider(db, fake_openai) -> Provider:
    return ProviderFactory(name="Fake images", kind=Provider.Kind.OPENAI, base_url=fake_openai.url,
                           api_key="sk-test-images", timeout=5, max_retries=0)


@pytest.fixture
def gpt_image(fake_provider) -> ImageModel:
    return ImageModel.objects.create(name="GPT Image", slug="gpt-image", provider=fake_provider,
                                     model="gpt-image-1", max_count=4)


@pytest.fixture
def dalle3(fake_provider) -> ImageModel:
    return ImageModel.objects.create(name="DALL-E 3", slug="dall-e-3", provider=fake_provider,
                                     model="dall-e-3")


@pytest.fixture
def dalle2(fake_provider) -> ImageModel:
    return ImageModel.objects.create(name="DALL-E 2", slug="dall-e-2", provider=fake_provider,
                                     model="dall-e-2", sizes="256x256,512x512")


def picture(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image
