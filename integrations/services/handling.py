"""Handles one accepted inbound event: who is writing, then the command or the message.

Runs on an event loop: the `chat` worker's shared loop (integrations.tasks), or in the embedded
mode the web process's own (services.inbound). Whatever fails is told to the person where that
helps and recorded on the integration; nothing here raises to the worker.
"""

from __future__ import annotations

import logging

from asgiref.sync import sync_to_async
from django.utils import translation

from conversations.services.errors import ChatError

from ..models import Integration
from ..transports.base import (
    Target, Transport, TransportError, scrub, split_text, transport_for, with_retries,
)
from .commands import Context, command_run
from .errors import integration_error_record
from .images import messenger_image_request
from .inbound import Inbound
from .people import identity_resolve
from .replies import messenger_reply_retry, messenger_reply_write

log = logging.getLogger(__name__)


async def messenger_say(*, integration: Integration, transport: Transport, target: Target,
                        text: str) -> None:
    """Sends a whole answer (split at the platform's limit); failures go on the integration."""
    try:
        for piece in split_text(text, transport.max_chars):
            rendered = transport.render(piece)
            await with_retries(lambda r=rendered: transport.send(target, r), what="send")
    except TransportError as exc:
        await integration_error_record(integration.pk, exc.message)


async def inbound_handle(inbound: Inbound) -> None:
    integration = await (Integration.objects.select_related("bot")
                         .filter(pk=inbound.integration_id, enabled=True).afirst())
    if integration is None:
        return
    transport = transport_for(integration)
    target = Target(inbound.chat_id, inbound.thread_id, dict(inbound.reply_ref))
    with translation.override(inbound.language or None):
        try:
            await _handle(integration, transport, target, inbound)
        except Exception as exc:
            log.exception("integration %s: handling an update failed", integration.pk)
            await integration_error_record(
                integration.pk, scrub(f"{type(exc).__name__}: {exc}", integration.secrets()))


async def _handle(integration: Integration, transport: Transport, target: Target,
                  inbound: Inbound) -> None:
    identity = await sync_to_async(identity_resolve)(
        platform=integration.platform, external_id=inbound.sender_id, name=inbound.sender_name)
    command = inbound.command

    async def say(text: str) -> None:
        await messenger_say(integration=integration, transport=transport, target=target,
                            text=text)

    try:
        if command in ("", "ask"):
            text = inbound.text if not command else inbound.argument
            await messenger_reply_write(integration=integration, identity=identity,
                                        transport=transport, target=target, text=text)
        elif command == "retry":
            await messenger_reply_retry(integration=integration, identity=identity,
                                        transport=transport, target=target)
        elif command == "image":
            await sync_to_async(messenger_image_request)(
                integration=integration, user=identity.user, prompt=inbound.argument,
                target=target)
            await say(translation.gettext("Drawing it… the picture comes in a moment."))
        else:
            ctx = Context(integration=integration, identity=identity, chat_id=inbound.chat_id,
                          argument=inbound.argument)
            await say(await sync_to_async(command_run)(ctx, command))
    except ChatError as exc:
        await say(f"⚠️ {exc.message}")
