"""Reads, always scoped to the person asking: someone else's job or image is simply absent."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import Q, QuerySet

from accounts.models import RolePolicy

from .models import GeneratedImage, ImageJob, ImageModel


def image_models_for(policy: RolePolicy | None) -> QuerySet[ImageModel]:
    models = ImageModel.objects.filter(is_active=True).filter(
        Q(provider__isnull=True) | Q(provider__is_active=True)
    ).select_related("provider")
    if policy is not None:
        models = models.filter(Q(roles__isnull=True) | Q(roles=policy)).distinct()
    return models.order_by("-is_default", "position", "name")


def jobs_for(user: Any) -> QuerySet[ImageJob]:
    return ImageJob.objects.filter(owner=user).select_related("image_model")


def job_get(user: Any, job_id: uuid.UUID | str) -> ImageJob | None:
    try:
        return jobs_for(user).get(pk=job_id)
    except (ImageJob.DoesNotExist, ValueError, TypeError):
        return None


def images_for(user: Any) -> QuerySet[GeneratedImage]:
    return GeneratedImage.objects.filter(owner=user).order_by("-created_at", "index")


def image_get(user: Any, image_id: uuid.UUID | str) -> GeneratedImage | None:
    try:
        return images_for(user).get(pk=image_id)
    except (GeneratedImage.DoesNotExist, ValueError, TypeError):
        return None


def image_by_name(user: Any, name: str) -> GeneratedImage | None:
    """The image a media path names, if it is this person's."""
    return images_for(user).filter(Q(file=name) | Q(thumbnail=name)).first()


def conversation_jobs(user: Any, conversation_id: uuid.UUID | str) -> list[ImageJob]:
    """A conversation's image jobs, oldest first, with their images (for the chat page)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return []
    return list(
        jobs_for(user).filter(conversation_id=conversation_id)
        .prefetch_related("images").order_by("created_at")
    )
