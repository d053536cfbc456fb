"""Images asked for in a chat (the web socket now; messengers later): the job belongs to the
conversation, which is started for it when there is none yet."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from conversations import selectors as conversation_selectors
from conversations.models import Conversation
from conversations.services.conversations import conversation_create
from conversations.services.errors import ChatError

from ..models import ImageJob
from .events import remember_web_loop
from .jobs import image_job_create, image_job_dispatch
from .payloads import job_payload

TITLE_CHARS = 60


@dataclass
class ChatImageRequest:
    job: ImageJob
    conversation: Conversation
    created_conversation: bool

    async def start(self) -> None:
        # Called once the asking socket follows the conversation, so it sees every event.
        remember_web_loop()
        await sync_to_async(image_job_dispatch, thread_sensitive=False)(self.job.pk)


def image_chat_request(*, user: User, prompt: Any, conversation_id: uuid.UUID | str | None,
                       bot_slug: str | None = None, size: str | None = None,
                       channel: str = "web") -> ChatImageRequest:
    """Checks and stores the job (not started: call `start()`); a refused request leaves no
    conversation behind."""
    with transaction.atomic():
        created = False
        if conversation_id:
            conversation = conversation_selectors.conversation_get(user, conversation_id)
            if conversation is None:
                raise ChatError("not_found", _("Conversation not found."), status=404)
        else:
            if not isinstance(prompt, str) or not prompt.strip():
                raise ChatError("empty", _("Describe the image you want."))
            title = " ".join(prompt.split())
            title = title if len(title) <= TITLE_CHARS else title[: TITLE_CHARS - 1] + "…"
            conversation = conversation_create(user=user, bot_slug=bot_slug, title=title)
            created = True
        job = image_job_create(user=user, prompt=prompt, size=size, conversation=conversation,
                               channel=channel, dispatch=False)
    return ChatImageRequest(job=job, conversation=conversation, created_conversation=created)


def job_state(job_id: uuid.UUID | str) -> dict[str, Any]:
    return job_payload(ImageJob.objects.select_related("image_model").get(pk=job_id))
