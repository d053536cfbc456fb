"""/image from a messenger: the job goes through imaging's one entry point, and its pictures
(or the reason there are none) go back to the chat when imaging.hooks.image_job_finished says
the job ended."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from accounts.models import User
from conversations.worker_loop import run_on_shared_loop
from imaging.models import ImageJob
from imaging.services.files import image_storage
from imaging.services.jobs import image_job_create

from ..models import ImageDelivery, Integration, Platform
from ..transports.base import Target, TransportError, transport_for, with_retries
from .errors import integration_error_record

log = logging.getLogger(__name__)


def messenger_image_request(*, integration: Integration, user: User, prompt: str,
                            target: Target) -> ImageJob:
    """Creates the job (ChatError when the role, quota or prompt says no) and remembers where
    its pictures go; the job starts once both are stored."""
    with transaction.atomic():
        job = image_job_create(user=user, prompt=prompt, channel=integration.platform)
        ImageDelivery.objects.create(job=job, integration=integration, chat_id=target.chat_id,
                                     thread_id=target.thread_id, reply_ref=target.reply_ref)
    return job


def on_image_job_finished(sender: Any, job: ImageJob, **kwargs: Any) -> None:
    """imaging.hooks.image_job_finished receiver; runs in the image worker's thread."""
    if job.channel not in Platform.values:
        return
    delivery = (ImageDelivery.objects.select_related("integration")
                .filter(job_id=job.pk, integration__enabled=True).first())
    if delivery is None:
        return
    files: list[tuple[bytes, str]] = []
    if job.status == ImageJob.Status.DONE:
        storage = image_storage()
        for image in job.images.order_by("index"):
            with storage.open(image.file) as handle:
                files.append((handle.read(), image.file.rsplit("/", 1)[-1]))
    # The shared loop: the transports' HTTP sessions live there, not on a throwaway loop.
    run_on_shared_loop(_deliver(delivery, job, files), timeout=300)


async def _deliver(delivery: ImageDelivery, job: ImageJob,
                   files: list[tuple[bytes, str]]) -> None:
    integration = delivery.integration
    transport = transport_for(integration)
    target = Target(**delivery.target_data())
    caption = job.revised_prompt or job.prompt
    try:
        if not files:
            text = f"⚠️ {job.error or 'The image could not be made.'}"
            await with_retries(lambda: transport.send(target, transport.render(text)),
                               what="send")
        for data, name in files:
            await with_retries(
                lambda d=data, n=name: transport.send_image(target, d, n, caption[:1000]),
                what="send_image")
    except TransportError as exc:
        await integration_error_record(integration.pk, exc.message)
