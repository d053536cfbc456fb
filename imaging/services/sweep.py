"""Jobs a dead worker left queued or running are failed, so they stop holding the quota."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_noop

from ..models import ImageJob
from .events import job_event

# A queued job waits for a worker; with none for this long something is wrong.
QUEUED_GRACE = timedelta(hours=1)


def image_jobs_sweep() -> int:
    now = timezone.now()
    # The redelivery of a dead worker's task may still take it over (run._claim) until then.
    running_limit = now - timedelta(seconds=settings.CHATLAB_IMAGE_TIMEOUT * 4)
    stuck = list(ImageJob.objects.filter(
        Q(status=ImageJob.Status.RUNNING, started_at__lt=running_limit)
        | Q(status=ImageJob.Status.QUEUED, created_at__lt=now - QUEUED_GRACE)
    ).only("pk", "conversation_id", "status"))
    for job in stuck:
        updated = ImageJob.objects.filter(pk=job.pk, status=job.status).update(
            status=ImageJob.Status.FAILED, error_code="interrupted", finished_at=now,
            error=gettext_noop("The image job was interrupted. Please try again."),
        )
        if updated:
            job_event(ImageJob.objects.select_related("image_model").get(pk=job.pk))
    return len(stuck)
