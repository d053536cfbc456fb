"""Running one job: the backend makes the pictures, they are stored, progress goes out."""

from __future__ import annotations

import logging
import time
import uuid
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_noop

from conversations.providers.base import ProviderError

from ..hooks import image_job_finished
from ..models import ImageJob
from .backends import backend_for
from .events import job_event
from .files import files_delete, image_store

log = logging.getLogger(__name__)


def _claim(job_id: uuid.UUID | str) -> ImageJob | None:
    """Takes a queued job (or one whose worker died long ago); a duplicate delivery gets None."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.CHATLAB_IMAGE_TIMEOUT * 3)
    taken = ImageJob.objects.filter(
        Q(status=ImageJob.Status.QUEUED) | Q(status=ImageJob.Status.RUNNING, started_at__lt=stale),
        pk=job_id,
    ).update(status=ImageJob.Status.RUNNING, started_at=now, progress=10)
    if not taken:
        return None
    return ImageJob.objects.select_related("provider", "image_model", "owner").get(pk=job_id)


def _save(job: ImageJob, **fields: object) -> None:
    for name, value in fields.items():
        setattr(job, name, value)
    ImageJob.objects.filter(pk=job.pk).update(**fields)
    job_event(job)


def image_job_run(*, job_id: uuid.UUID | str) -> ImageJob | None:
    job = _claim(job_id)
    if job is None:
        return None
    job_event(job)
    started = time.monotonic()
    stored: list[str] = []
    try:
        results = backend_for(job).generate(job)
        _save(job, progress=80)
        for index, result in enumerate(results):
            image = image_store(job=job, index=index, data=result.data)
            stored += [image.file, image.thumbnail]
        revised = next((r.revised_prompt for r in results if r.revised_prompt), "")
        _save(job, status=ImageJob.Status.DONE, progress=100, revised_prompt=revised,
              finished_at=timezone.now())
        _finished(job)
    except ProviderError as exc:
        log.info("image job %s failed: %s (%s)", job.pk, exc.code, exc.detail)
        _fail(job, exc.code, exc.message, stored)
    except Exception:
        log.exception("image job %s crashed", job.pk)
        _fail(job, "internal", gettext_noop(
              "Something went wrong while making the image. Please try again."),
              stored)
    log.debug("image job %s took %.1fs", job.pk, time.monotonic() - started)
    return job


def _fail(job: ImageJob, code: str, message: str, stored: list[str]) -> None:
    # Nothing of a failed job is kept or charged: its images go, and the quota skips it.
    job.images.all().delete()
    if stored:
        files_delete(stored)
    _save(job, status=ImageJob.Status.FAILED, error_code=code[:40], error=message[:500],
          finished_at=timezone.now())
    _finished(job)


def _finished(job: ImageJob) -> None:
    try:
        image_job_finished.send(sender=ImageJob, job=job)
    except Exception:  # a receiver's failure must not undo the job
        log.exception("a receiver of image_job_finished failed for job %s", job.pk)
