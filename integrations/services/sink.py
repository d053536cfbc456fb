"""The messenger reply sink: shows a growing reply by editing the message it sent.

It is the reply fanout's direct sink (conversations.services.fanout.DirectSink), so the one
generation service writes messenger replies exactly as it writes web ones; this sink only
decides when the platform hears about them. The first words go out at once; after that the
message is edited at most once per transport.edit_interval (never per token), and the last edit
carries the complete text. A reply longer than the platform's limit continues in new messages.
While a reasoning model thinks (its reasoning streams, no answer yet) the message shows a
"Thinking…" status, sent once, which the answer's first edit replaces; the reasoning itself
stays on the website.
An API failure is recorded on the integration and ends the live edits; it never ends the reply.

Where the reply is shown is kept for the sweep (services.interrupted): a ReplyPost row when a
message is sent (once, and again only for a continuation), and the text shown so far in the
cache at each edit, so a reply whose process dies keeps what the person saw.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils import translation
from django.utils.translation import gettext_noop

from conversations.models import Message

from ..models import ReplyPost
from ..transports.base import Target, Transport, TransportError, split_text, with_retries
from .errors import integration_error_record

log = logging.getLogger(__name__)

THINKING = gettext_noop("Thinking…")


class MessengerSink:
    channel_name = ""  # not a socket: a closed tab elsewhere never detaches it

    def __init__(self, transport: Transport, target: Target, integration_id: int, *,
                 reply_id: str = "", language: str = "") -> None:
        self.transport = transport
        self.target = target
        self.integration_id = integration_id
        self.reply_id = reply_id  # "" : nothing kept for the sweep
        self.language = language
        self.text = ""
        self.thinking = False  # the model's reasoning streams, no answer yet
        self.status = ""
        self.error = ""
        self.refs: list[str] = []  # the platform's message ids, one per piece of the reply
        self.shown: list[str] = []  # what each of those messages shows now (rendered)
        self.failed = False
        self._done = asyncio.Event()
        self._wake = asyncio.Event()
        self._last_edit = 0.0
        self._task = asyncio.create_task(self._run())

    async def deliver(self, event: dict[str, Any]) -> None:
        kind = event.get("kind")
        if kind == "delta":
            self.text += event.get("text", "")
            if event.get("reasoning") and not self.thinking and not self.text:
                self.thinking = True
                self._wake.set()  # once: more thoughts change nothing the person sees
            if event.get("text"):
                self._wake.set()
        elif kind == "done":
            message = event.get("message") or {}
            self.status = message.get("status", "")
            self.error = message.get("error", "")
            self._done.set()
            self._wake.set()

    async def finish(self) -> None:
        """Waits for the final edit (the reply must have ended, or this ends it as it is)."""
        self._done.set()
        self._wake.set()
        await self._task

    def final_text(self) -> str:
        text = self.text
        if self.status == Message.Status.FAILED:
            text = f"{text}\n\n⚠️ {self.error}" if text else f"⚠️ {self.error}"
        elif self.status == Message.Status.CANCELLED and not text:
            text = "…"
        return text

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self._done.is_set() and self.refs:
                # Telegram allows about one edit a second per chat: wait out the interval,
                # unless the reply ends meanwhile.
                wait = self._last_edit + self.transport.edit_interval - time.monotonic()
                if wait > 0:
                    try:
                        await asyncio.wait_for(self._done.wait(), wait)
                    except TimeoutError:
                        pass
            done = self._done.is_set()
            if not self.failed:
                if done or self.text:
                    await self._show(self.final_text() if done else self.text)
                elif self.thinking:
                    await self._show(self._status(), status=True)
            if done:
                return

    def _status(self) -> str:
        with translation.override(self.language or None):
            return "💭 " + translation.gettext(THINKING)

    async def _show(self, text: str, *, status: bool = False) -> None:
        if not text.strip():
            return
        pieces = split_text(text, self.transport.max_chars)
        sent = len(self.refs)
        keep = bool(self.reply_id) and not self._done.is_set()
        try:
            if keep and not status:  # a status is not reply text to keep
                # Before the platform shows it: a process killed right after an edit still
                # leaves at least what the person saw.
                await self._keep(self._keep_text, text)
            for index, piece in enumerate(pieces):
                rendered = self.transport.render(piece)
                if index < len(self.refs):
                    if self.shown[index] != rendered:
                        await with_retries(
                            lambda i=index, r=rendered: self.transport.edit(
                                self.target, self.refs[i], r),
                            what="edit")
                        self.shown[index] = rendered
                else:
                    ref = await with_retries(
                        lambda r=rendered: self.transport.send(self.target, r), what="send")
                    self.refs.append(ref)
                    self.shown.append(rendered)
            if keep and len(self.refs) > sent:
                await self._keep(self._keep_post)
        except TransportError as exc:
            self.failed = True
            await integration_error_record(self.integration_id, exc.message)
        except Exception as exc:  # a transport bug must not end the reply or the worker
            log.exception("messenger delivery failed")
            self.failed = True
            await integration_error_record(self.integration_id, f"{type(exc).__name__}")
        finally:
            self._last_edit = time.monotonic()

    async def _keep(self, keeper: Callable[..., Awaitable[None]], *args: Any) -> None:
        """Keeps where and what the person sees, for the sweep: the text at every edit in the
        cache (not the database: edits come every second), the messages when one is sent.
        Failing to keep them costs only the notice, never the reply."""
        try:
            await keeper(*args)
        except Exception:
            log.warning("keeping where reply %s is shown failed", self.reply_id, exc_info=True)

    async def _keep_text(self, text: str) -> None:
        await cache.aset(shown_key(self.reply_id), text, timeout=shown_ttl())

    async def _keep_post(self) -> None:
        await ReplyPost.objects.aupdate_or_create(
            reply_id=self.reply_id,
            defaults={"integration_id": self.integration_id, "refs": self.refs,
                      "chat_id": self.target.chat_id, "thread_id": self.target.thread_id,
                      "reply_ref": self.target.reply_ref, "language": self.language})


def shown_key(reply_id: object) -> str:
    return f"chatlab:messenger-shown:{reply_id}"


def shown_ttl() -> int:
    # As long as generation keeps its checkpoints: the sweep looks within that time.
    return settings.CHATLAB_REPLY_TIMEOUT + 2 * settings.CHATLAB_STALE_REPLY_SECONDS
