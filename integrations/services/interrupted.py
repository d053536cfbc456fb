"""Telling messenger users that a reply they were watching was interrupted.

The sweep (conversations.services.sweep) marks replies whose process died and sends
conversations.hooks.replies_interrupted with their ids. Those shown on a messenger (a ReplyPost,
kept by the sink) get the notice the web shows, in the person's language, after the text they
saw, with the way to retry (/retry): the last of the reply's messages is edited, and the notice
continues in a new message if it does not fit.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.cache import cache
from django.utils import translation
from django.utils.translation import gettext_noop

from ..models import ReplyPost
from ..transports.base import Target, TransportError, split_text, transport_for, with_retries
from .errors import integration_error_record
from .sink import shown_key

log = logging.getLogger(__name__)

NOTICE = gettext_noop("The reply was interrupted. Send /retry to try again.")


async def on_replies_interrupted(sender: Any, message_ids: list[str], **kwargs: Any) -> None:
    posts = ReplyPost.objects.filter(reply_id__in=message_ids, integration__enabled=True)
    async for post in posts.select_related("integration", "reply"):
        await reply_interrupted_show(post)


async def reply_interrupted_show(post: ReplyPost) -> None:
    """Edits the reply's last message to end with the notice; failures go on the integration."""
    # What the person saw is in the cache; the stored text is the older checkpoint.
    shown = await cache.aget(shown_key(post.reply_id)) or post.reply.content
    with translation.override(post.language or None):
        notice = "⚠️ " + translation.gettext(NOTICE)
    text = f"{shown}\n\n{notice}" if shown.strip() else notice
    transport = transport_for(post.integration)
    target = Target(**post.target_data())
    refs = [str(ref) for ref in post.refs]
    pieces = split_text(text, transport.max_chars)
    try:
        # The earlier messages are full and unchanged: only the last one grows.
        for index in range(max(len(refs) - 1, 0), len(pieces)):
            rendered = transport.render(pieces[index])
            if index < len(refs):
                await with_retries(lambda r=rendered, i=index: transport.edit(target, refs[i], r),
                                   what="edit")
            else:
                await with_retries(lambda r=rendered: transport.send(target, r), what="send")
    except TransportError as exc:
        await integration_error_record(post.integration_id, exc.message)
