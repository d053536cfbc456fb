"""The JSON shapes of image jobs and images, shared by the socket, pages and the API."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils.translation import gettext

from ..models import GeneratedImage, ImageJob, ImageModel


def image_payload(image: GeneratedImage) -> dict[str, Any]:
    url = reverse("image-file", args=[image.pk])
    return {
        "id": str(image.pk),
        "job": str(image.job_id),
        "url": url,
        "thumbnail_url": reverse("image-thumbnail", args=[image.pk]),
        "download_url": f"{url}?download=1",
        "content_type": image.content_type,
        "width": image.width,
        "height": image.height,
        "bytes": image.bytes,
        "created_at": image.created_at.isoformat() if image.created_at else None,
    }


def job_payload(job: ImageJob, images: list[GeneratedImage] | None = None) -> dict[str, Any]:
    if images is None:
        images = list(job.images.order_by("index")) if job.status == job.Status.DONE else []
    return {
        "id": str(job.pk),
        "status": job.status,
        "progress": job.progress,
        "prompt": job.prompt,
        "revised_prompt": job.revised_prompt,
        "model": job.image_model.slug if job.image_model_id and job.image_model else job.model,
        "size": job.size,
        "quality": job.quality,
        "count": job.count,
        # Stored in English; shown in the reader's language.
        "error": gettext(job.error) if job.error else "",
        "error_code": job.error_code,
        "conversation": str(job.conversation_id) if job.conversation_id else None,
        "created_at": job.created_at.isoformat() if job.created_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "duration_ms": job.duration_ms,
        "images": [image_payload(i) for i in images],
        "url": reverse("api-image-job", args=[job.pk]),
    }


def model_payload(model: ImageModel) -> dict[str, Any]:
    return {
        "slug": model.slug,
        "name": model.name,
        "model": model.model,
        "sizes": model.size_choices(),
        "qualities": [q for q in model.quality_choices() if q],
        "max_count": model.count_limit(),
        "is_default": model.is_default,
    }
