"""Storing generated pictures: checked to be images, server-made names, a thumbnail each."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable

from django.core.files.base import ContentFile
from django.core.files.storage import Storage, storages
from django.db import transaction
from django.utils import timezone
from PIL import Image, UnidentifiedImageError

from ..models import GeneratedImage, ImageJob
from .backends import not_an_image

THUMBNAIL_SIZE = (384, 384)
# Checked before decoding: the largest images models make are about 4 megapixels.
MAX_PIXELS = 40_000_000
FORMATS = {"PNG": ("png", "image/png"), "JPEG": ("jpg", "image/jpeg"),
           "WEBP": ("webp", "image/webp")}


def image_storage() -> Storage:
    # Looked up on every use, so the STORAGES setting (local disk or S3) decides at run time.
    return storages["default"]


def image_store(*, job: ImageJob, index: int, data: bytes) -> GeneratedImage:
    try:
        with Image.open(io.BytesIO(data)) as probe:
            if probe.width * probe.height > MAX_PIXELS:
                raise not_an_image(f"{probe.width}x{probe.height} is larger than any model makes")
            probe.verify()
        picture = Image.open(io.BytesIO(data))
        picture.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise not_an_image("the bytes are not a picture Pillow can read") from None
    if picture.format in FORMATS:
        extension, content_type = FORMATS[picture.format]
    else:  # GIF, BMP, ...: keep a PNG of it rather than an unusual format
        out = io.BytesIO()
        picture.convert("RGBA").save(out, format="PNG")
        data, (extension, content_type) = out.getvalue(), FORMATS["PNG"]
    storage = image_storage()
    stem = f"images/{timezone.now():%Y/%m}/{uuid.uuid4().hex}"
    name = storage.save(f"{stem}.{extension}", ContentFile(data))
    thumb = picture.convert("RGBA" if picture.mode in ("RGBA", "LA", "P") else "RGB")
    thumb.thumbnail(THUMBNAIL_SIZE)
    out = io.BytesIO()
    thumb.save(out, format="WEBP", quality=80)
    thumb_name = storage.save(f"{stem}.thumb.webp", ContentFile(out.getvalue()))
    return GeneratedImage.objects.create(
        job=job, owner_id=job.owner_id, index=index, file=name, thumbnail=thumb_name,
        content_type=content_type, width=picture.width, height=picture.height, bytes=len(data),
    )


def after_commit(callback: Callable[[], None]) -> None:
    # One seam for tests, whose transaction never commits.
    transaction.on_commit(callback)


def files_delete(names: list[str]) -> None:
    """Removes stored files once the rows that named them are gone for good."""
    def remove() -> None:
        storage = image_storage()
        for name in names:
            try:
                storage.delete(name)
            except Exception:  # a missing file must not stop the rest
                pass

    after_commit(remove)
