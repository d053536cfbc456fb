"""Asking for images: the one entry point every channel calls (web socket, REST, terminal,
messengers), and what a job may cost."""

from __future__ import annotations

import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.db import close_old_connections, transaction
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from accounts.models import User
from accounts.roles import policy_for
from accounts.services.quotas import QuotaExceeded, quota_check_image
from conversations import selectors as conversation_selectors
from conversations.models import Bot, Conversation
from conversations.services.errors import ChatError, grouped

from .. import selectors
from ..models import GeneratedImage, ImageJob, ImageModel
from .files import after_commit, files_delete

log = logging.getLogger(__name__)

# The embedded mode's stand-in for the `images` queue: jobs run beside the web server.
_executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="image-job")


def image_model_pick(*, user: User, slug: str | None, bot: Bot | None = None,
                     policy: Any = None) -> ImageModel:
    models = list(selectors.image_models_for(policy))
    if slug:
        for model in models:
            if model.slug == slug:
                if bot is not None and not _serves(model, bot):
                    break
                return model
        raise ChatError("unknown_model", format_lazy(_("There is no image model {name} for you."),
                                                     name=repr(slug[:60])))
    candidates = [m for m in models if bot is None or _serves(m, bot)]
    if not candidates:
        raise ChatError("images_not_available",
                        _("Image generation is not available here. An administrator can add an "
                          "image model in the admin."), status=403)
    # A model named for this bot wins over a general one; then the default, then the first.
    for model in candidates:
        if bot is not None and bot.pk in _bot_ids(model):
            return model
    return candidates[0]


def _bot_ids(model: ImageModel) -> set[int]:
    if not hasattr(model, "_bot_ids"):
        model._bot_ids = set(model.bots.values_list("pk", flat=True))  # type: ignore[attr-defined]
    return model._bot_ids  # type: ignore[attr-defined]


def _serves(model: ImageModel, bot: Bot) -> bool:
    ids = _bot_ids(model)
    return not ids or bot.pk in ids


def image_job_create(
    *,
    user: User,
    prompt: Any,
    model: str | None = None,
    size: str | None = None,
    quality: str | None = None,
    count: Any = 1,
    conversation: Conversation | None = None,
    conversation_id: uuid.UUID | str | None = None,
    channel: str = "web",
    dispatch: bool = True,
) -> ImageJob:
    """Checks the request and the quota, stores a queued job and starts it once committed.

    Raises ChatError with a stable code: 403 when the role may not make images, 400 for a bad
    prompt, model, size, quality or count, 404 for a conversation that is not the person's,
    429 when today's images are used up.
    """
    if getattr(user, "is_guest", False) or not user.is_active:
        raise ChatError("images_not_allowed", _("Sign up to make images."), status=403)
    policy = policy_for(user)
    if policy is not None and policy.images_per_day == 0:
        raise ChatError("images_not_allowed", _("Your role does not include image generation."),
                        status=403)
    if conversation is None and conversation_id:
        conversation = conversation_selectors.conversation_get(user, conversation_id)
        if conversation is None:
            raise ChatError("not_found", _("Conversation not found."), status=404)
    if not isinstance(prompt, str) or not prompt.strip():
        raise ChatError("empty", _("Describe the image you want."))
    prompt = prompt.strip()
    if len(prompt) > settings.CHATLAB_IMAGE_PROMPT_CHARS:
        raise ChatError("too_long", format_lazy(
            _("An image prompt may be at most {limit} characters."),
            limit=grouped(settings.CHATLAB_IMAGE_PROMPT_CHARS)))
    image_model = image_model_pick(user=user, slug=model, policy=policy,
                                   bot=conversation.bot if conversation else None)
    sizes = image_model.size_choices()
    size = size or sizes[0]
    if size not in sizes:
        raise ChatError("invalid_size", format_lazy(_("{model} makes these sizes: {sizes}."),
                                                    model=image_model.name, sizes=", ".join(sizes)))
    qualities = image_model.quality_choices()
    quality = quality or qualities[0]
    if quality not in qualities:
        offered = ", ".join(q for q in qualities if q) or _("none to choose from")
        raise ChatError("invalid_quality", format_lazy(_("{model} qualities: {offered}."),
                                                       model=image_model.name, offered=offered))
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ChatError("invalid_count", _("The number of images must be a whole number from 1."))
    if count > image_model.count_limit():
        raise ChatError("too_many", format_lazy(ngettext_lazy(
            "{model} makes at most {count} image per request.",
            "{model} makes at most {count} images per request.", image_model.count_limit()),
            model=image_model.name, count=image_model.count_limit()))
    with transaction.atomic():
        # One request at a time per person, so two at once cannot both take the last images.
        User.objects.select_for_update().filter(pk=user.pk).first()
        try:
            quota_check_image(user, count=count, policy=policy)
        except QuotaExceeded as exc:
            raise ChatError("quota", exc.text, status=429, retry_after=exc.retry_after) from None
        job = ImageJob.objects.create(
            owner=user, conversation=conversation, image_model=image_model,
            provider=image_model.provider, model=image_model.model, prompt=prompt, size=size,
            quality=quality, count=count, channel=channel[:20],
        )
        if dispatch:
            after_commit(lambda: image_job_dispatch(job.pk))
    return job


def image_job_dispatch(job_id: uuid.UUID | str) -> None:
    from ..tasks import run_image_job

    if settings.CELERY_TASK_ALWAYS_EAGER and settings.IMAGING_EAGER_IN_THREAD:
        _executor.submit(_run_in_thread, str(job_id))
    else:
        run_image_job.delay(str(job_id))


def _run_in_thread(job_id: str) -> None:
    from .run import image_job_run

    close_old_connections()
    try:
        image_job_run(job_id=job_id)
    except Exception:
        log.exception("image job %s crashed", job_id)
    finally:
        close_old_connections()


@transaction.atomic
def image_delete(*, user: User, image_id: uuid.UUID | str) -> None:
    image = selectors.image_get(user, image_id)
    if image is None:
        raise ChatError("not_found", _("Image not found."), status=404)
    image.delete()  # the files go with it (imaging.signals)


def images_of(job: ImageJob) -> list[GeneratedImage]:
    return list(job.images.order_by("index"))


__all__ = ["image_job_create", "image_delete", "image_model_pick", "image_job_dispatch",
           "files_delete"]
