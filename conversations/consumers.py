"""The chat socket: one per open page, following one conversation.

Client frames (JSON): {"type": "send", "content", "client_id", "bot"?}, {"type": "stop", "id"},
{"type": "regenerate", "id"} (also retries a failed reply), {"type": "sync"}.
Server frames: see docs/protocol.md; deltas are kept tiny ([k, n, text]) because they are most
of the traffic.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from channels.db import database_sync_to_async
from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.guests import guest_create, guest_from_session, guests_enabled
from accounts.languages import language_for_scope
from accounts.models import User
from accounts.signals import user_group

from . import selectors
from .db_threads import on_db_thread
from .models import Conversation, Message
from .services import messages as message_services
from .services.early import EarlyStart, SendContext, early_start_plan, send_context_load
from .services.first_messages import first_messages
from .services.messages import NewConversationSend
from .services.message_text import text_refusal
from .services.errors import ChatError
from .services.fanout import conversation_group
from .services.generation import replies_as_stored
from .services.payloads import conversation_payload, message_payload
from .services.runner import request_snapshots, runner

log = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404
CLOSE_DEACTIVATED = 4403


class ChatConsumer(AsyncWebsocketConsumer):
    # The signed-in person, or the session's guest (None until a guest sends a first message).
    user: User | None = None
    conversation_id: str | None = None
    # The person's role and bots as of the last look: lets a first message ask the model while
    # it is being stored (services.early).
    send_context: SendContext | None = None
    # The person's interface language: errors on this socket are written in it.
    language: str = settings.LANGUAGE_CODE

    async def connect(self) -> None:
        self.streams: dict[str, int] = {}  # message id -> short stream key used in frames
        user = self.scope.get("user")
        if user is not None and user.is_authenticated and user.is_active:
            self.user = user
        elif guests_enabled():
            self.user = await database_sync_to_async(guest_from_session)(self.scope.get("session"))
        else:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.language = language_for_scope(self.scope, user)
        translation.activate(self.language)
        requested = self.scope["url_route"]["kwargs"].get("conversation_id")
        if requested:
            conversation = None
            if self.user is not None:
                conversation = await database_sync_to_async(selectors.conversation_get)(
                    self.user, requested
                )
            if conversation is None:
                await self.close(code=CLOSE_NOT_FOUND)
                return
        # Everything a first send needs is ready before the handshake completes, so a client
        # that sends as soon as the socket opens does not wait behind it.
        if self.user is not None:
            if not requested:
                self.send_context = await database_sync_to_async(send_context_load)(self.user)
            await self.channel_layer.group_add(user_group(self.user.pk), self.channel_name)
        await self.accept()
        if requested:
            await self._follow(str(requested))
            active = await database_sync_to_async(
                lambda: list(selectors.active_replies(requested).order_by("created_at"))
            )()
            await self._send_stored(active)
            await request_snapshots([str(m.pk) for m in active], self.channel_name)
        # This process sweeps orphaned replies too, so the tabs it serves hear of them soon.
        runner().ensure_control()

    async def _actor(self) -> User:
        """The sender; a guest's User row is made on their first message."""
        if self.user is None:
            session = self.scope.get("session")
            if session is None:
                raise ChatError("login_required", _("Sign in to chat."), status=401)
            self.user = await database_sync_to_async(guest_create)(session)
            await self.channel_layer.group_add(user_group(self.user.pk), self.channel_name)
        return self.user

    async def disconnect(self, code: int) -> None:
        if getattr(self, "user", None) is not None:
            await self.channel_layer.group_discard(user_group(self.user.pk), self.channel_name)
        if self.conversation_id:
            await self.channel_layer.group_discard(
                conversation_group(self.conversation_id), self.channel_name
            )
        try:
            runner().detach(self.channel_name)
        except RuntimeError:
            pass

    async def _follow(self, conversation_id: str) -> None:
        self.conversation_id = conversation_id
        await self.channel_layer.group_add(conversation_group(conversation_id), self.channel_name)

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels closes stale database connections before every handler, on the one shared
        # sync thread: a thread hop per frame, queued behind every other socket's (at 50 sends
        # at once, the frames' last step before their replies could start). Every database call
        # here goes through database_sync_to_async or the chat database threads, which look
        # after their own connections.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    # Client frames ---------------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        translation.activate(self.language)
        limit = settings.CHATLAB_MAX_MESSAGE_CHARS * 4 + 4096
        if text_data is None or len(text_data) > limit:
            await self._error("too_large" if text_data else "invalid", _("Frame too large or not text."))
            return
        try:
            frame = json.loads(text_data)
        except (ValueError, RecursionError):  # RecursionError: nested thousands deep
            await self._error("invalid", _("Frames must be JSON objects."))
            return
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            await self._error("invalid", _("Frames must be JSON objects with a type."))
            return
        if (refusal := _frame_refusal(frame)) is not None:
            await self._error(refusal.code, refusal.message)
            return
        # A send checks the account as part of storing the message, off this path.
        if (
            frame["type"] != "send"
            and self.user is not None
            and not await database_sync_to_async(self._still_allowed)()
        ):
            await self._error("deactivated", _("Your account is not active."))
            await self.close(code=CLOSE_DEACTIVATED)
            return
        handler = {
            "send": self.on_send,
            "stop": self.on_stop,
            "regenerate": self.on_regenerate,
            "sync": self.on_sync,
            "edit": self.on_edit,
            "image": self.on_image,
        }.get(frame["type"])
        if handler is None:
            await self._error("invalid", gettext("Unknown frame type {kind}.").format(
                kind=repr(frame["type"][:40])))
            return
        try:
            await handler(frame)
        except ChatError as exc:
            await self._error(exc.code, exc.message, ref=frame.get("client_id"),
                              retry_after=exc.retry_after)
            if exc.code == "deactivated":
                await self.close(code=CLOSE_DEACTIVATED)

    def _still_allowed(self) -> bool:
        # Checked on every frame, so deactivating someone takes effect on their next frame.
        assert self.user is not None
        return User.objects.filter(pk=self.user.pk, is_active=True).exists()

    async def on_send(self, frame: dict[str, Any]) -> None:
        first_messages().note_frame()
        user = await self._actor()
        early = None
        if self.conversation_id is None:
            early = early_start_plan(self.send_context, user, frame.get("content"), frame.get("bot"))
            if early is not None:
                runner().start(early.reply_id, early.conversation_id, direct=self, early=early)
                await early.store_when_sent()
        try:
            if self.conversation_id is None:
                bot = frame.get("bot")
                sent = await first_messages().store(NewConversationSend(
                    user=user, content=frame.get("content"),
                    bot_slug=bot if isinstance(bot, str) else None,
                    client_id=frame.get("client_id"), reply_status=Message.Status.STREAMING,
                    ids=(early.conversation_id, early.reply_id) if early is not None else None,
                ))
            else:
                sent = await on_db_thread(self._store_send)(user, frame)
        except BaseException:
            if early is not None:
                _drop_early(early)
            raise
        if early is not None and not early.matches(sent):
            _drop_early(early)
            early = None
        if sent.created_conversation:
            await self._follow(str(sent.conversation.pk))
        reply_id = str(sent.reply.pk)
        key = self._stream_key(reply_id)
        # This socket has the message it sent: ids are all it needs (other tabs get more), but
        # it needs both, or the message cannot be edited until a reload.
        event: dict[str, Any] = {"type": "sent", "ref": frame.get("client_id"),
                                 "message_id": str(sent.user_message.pk),
                                 "reply": reply_id, "k": key}
        if sent.created_conversation:
            # Its title is the start of the message, which the client has.
            event["conversation"] = str(sent.conversation.pk)
        if not sent.is_new:
            # A resent frame (say, after a reconnect): the client may have missed all of it.
            event.update(message=message_payload(sent.user_message),
                         reply=message_payload(sent.reply))
        await self._send(event)
        if early is not None:
            early.admit(sent.reply)
        elif sent.is_new:
            # A new conversation's history is the message just sent: no need to read it back.
            history = (
                [{"role": "user", "content": sent.user_message.content}]
                if sent.created_conversation else None
            )
            runner().start(reply_id, sent.conversation.pk, direct=self, reply=sent.reply,
                           policy=sent.policy, history=history)
        elif sent.reply.is_active:
            await request_snapshots([reply_id], self.channel_name)
        if sent.is_new and not sent.created_conversation:
            # Nobody else can be following a conversation that did not exist a moment ago.
            await self._broadcast_sent(sent.user_message, sent.reply)
        if self.conversation_id is None and (self.send_context is None or self.send_context.stale):
            self.send_context = await database_sync_to_async(send_context_load)(user)

    def _store_send(self, user: User, frame: dict[str, Any]) -> message_services.SentMessage:
        if not User.objects.filter(pk=user.pk, is_active=True).exists():
            raise ChatError("deactivated", _("Your account is not active."))
        bot = frame.get("bot")
        return message_services.message_send(
            user=user,
            content=frame.get("content"),
            conversation_id=self.conversation_id,
            bot_slug=bot if isinstance(bot, str) else None,
            client_id=frame.get("client_id"),
            reply_status=Message.Status.STREAMING,
        )

    async def on_regenerate(self, frame: dict[str, Any]) -> None:
        message_id = _message_id(frame)
        reply = await database_sync_to_async(message_services.reply_regenerate)(
            user=await self._actor(), message_id=message_id, reply_status=Message.Status.STREAMING
        )
        key = self._stream_key(str(reply.pk))
        await self._send({"type": "regenerated", "replaces": frame.get("id"),
                          "reply": message_payload(reply), "k": key})
        runner().start(str(reply.pk), reply.conversation_id, direct=self)
        await self._broadcast_sent(None, reply, replaces=str(frame.get("id")))

    async def on_edit(self, frame: dict[str, Any]) -> None:
        """{"type": "edit", "id": <last user message>, "content"}: a new version of the message
        and a new reply; the old ones stay as previous versions (services/edits.py)."""
        from .services.edits import message_edit

        message_id = _message_id(frame)
        message, reply, superseded = await database_sync_to_async(message_edit)(
            user=await self._actor(), message_id=message_id, content=frame.get("content"),
            reply_status=Message.Status.STREAMING,
        )
        key = self._stream_key(str(reply.pk))
        await self._send({"type": "edited", "superseded": superseded,
                          "message": message_payload(message), "reply": message_payload(reply),
                          "k": key})
        runner().start(str(reply.pk), reply.conversation_id, direct=self, reply=reply)
        await self._broadcast_sent(message, reply, replaces=superseded[-1] if superseded else None)

    async def on_stop(self, frame: dict[str, Any]) -> None:
        message_id = _message_id(frame)
        message = await database_sync_to_async(selectors.message_get)(
            await self._actor(), message_id
        )
        if message is None:
            raise ChatError("not_found", _("Message not found."))
        if message.is_active:
            await runner().stop(message.pk)

    async def on_sync(self, frame: dict[str, Any]) -> None:
        """The client saw a gap in the sequence: send it the state of every active reply."""
        if not self.conversation_id:
            return
        conversation_id = self.conversation_id
        messages = await database_sync_to_async(
            lambda: list(
                selectors.visible_messages(Conversation(pk=conversation_id)).filter(
                    role=Message.Role.ASSISTANT
                ).order_by("-created_at")[:1]
            )
        )()
        for message in messages:
            if message.is_active:
                await self._send_stored([message])
                await request_snapshots([str(message.pk)], self.channel_name)
            else:
                await self._send({"type": "message", "message": message_payload(message),
                                  "k": self._stream_key(str(message.pk))})

    async def on_image(self, frame: dict[str, Any]) -> None:
        """{"type": "image", "prompt", "client_id"?, "bot"?, "size"?}: an image job in this
        conversation (started here when there is none yet); progress comes as "image" frames."""
        from imaging.services.chat import image_chat_request, job_state

        if self.user is None:  # a visitor: no guest account is made just to be refused
            raise ChatError("images_not_allowed", _("Sign up to make images."), status=403)
        bot = frame.get("bot")
        user = await self._actor()
        asked = await database_sync_to_async(image_chat_request)(
            user=user, prompt=frame.get("prompt"), conversation_id=self.conversation_id,
            bot_slug=bot if isinstance(bot, str) else None,
            size=frame.get("size") if isinstance(frame.get("size"), str) else None,
        )
        if asked.created_conversation:
            await self._follow(str(asked.conversation.pk))
            await self._send({"type": "conversation", "conversation": await _conv(asked.conversation)})
        await asked.start()
        # Read again after following the group: progress sent before that is not lost.
        job = await database_sync_to_async(job_state)(asked.job.pk)
        await self._send({"type": "image", "job": job, "ref": frame.get("client_id")})

    async def image_event(self, message: dict[str, Any]) -> None:
        """An image job's progress, from whichever worker runs it."""
        await self._send({"type": "image", "job": message["job"]})

    async def account_deactivated(self, message: dict[str, Any]) -> None:
        await self._error("deactivated", _("Your account is not active."))
        await self.close(code=CLOSE_DEACTIVATED)

    # Reply events (direct from a local runner, or from the conversation group) ---------------

    async def deliver(self, event: dict[str, Any]) -> None:
        """Called by a runner on this process for the replies this socket asked for."""
        await self._send_event(event, asked=True)

    async def reply_event(self, message: dict[str, Any]) -> None:
        if message.get("origin") == self.channel_name:
            return  # this socket already had it directly
        await self._send_event(message["event"])

    async def message_sent(self, message: dict[str, Any]) -> None:
        """Another tab (or process) started a reply in this conversation: follow it."""
        if message.get("origin") == self.channel_name:
            return
        reply = message["reply"]
        await self._send({"type": "sent", "message": message.get("message"), "reply": reply,
                          "replaces": message.get("replaces"), "k": self._stream_key(reply["id"]),
                          "follow": True})
        await request_snapshots([reply["id"]], self.channel_name)

    async def _send_event(self, event: dict[str, Any], asked: bool = False) -> None:
        kind = event["kind"]
        key = self._stream_key(event["id"])
        if kind == "delta":
            reasoning = event.get("reasoning")
            # [k, n, text], or [k, n, text, reasoning] from a model that thinks aloud.
            await self._send([key, event["seq"], event["text"], reasoning] if reasoning
                             else [key, event["seq"], event["text"]])
        elif kind == "snapshot":
            await self._send({"type": "snapshot", "id": event["id"], "k": key, "n": event["seq"],
                              "content": event["content"], "status": event["status"],
                              "reasoning": event.get("reasoning", "")})
        elif kind == "done":
            # A completed reply needs no more words; the full message is one GET away.
            frame: dict[str, Any] = {"type": "done", "k": key, "n": event["seq"]}
            if not asked:  # a follower may have seen nothing of this reply but its deltas
                frame["id"] = event["id"]
            if event["message"].get("reasoning_ms") is not None:  # "Thought for N s"
                frame["reasoning_ms"] = event["message"]["reasoning_ms"]
            status = event["message"]["status"]
            if status != Message.Status.COMPLETE:
                frame.update(status=status, error=event["message"]["error"])
            await self._send(frame)

    async def _send_stored(self, replies: list[Message]) -> None:
        """Active replies as stored, at once: their writer's snapshot follows if it is alive,
        the sweep's verdict if it died."""
        for payload in await replies_as_stored(replies):
            await self._send({"type": "message", "message": payload,
                              "k": self._stream_key(payload["id"])})

    async def _broadcast_sent(self, user_message: Message | None, reply: Message,
                              replaces: str | None = None) -> None:
        await self.channel_layer.group_send(
            conversation_group(reply.conversation_id),
            {
                "type": "message.sent",
                "origin": self.channel_name,
                "message": message_payload(user_message) if user_message else None,
                "reply": message_payload(reply),
                "replaces": replaces,
            },
        )

    def _stream_key(self, message_id: str) -> int:
        key = self.streams.get(message_id)
        if key is None:
            key = self.streams[message_id] = len(self.streams) + 1
        return key

    async def _send(self, payload: dict[str, Any] | list[Any]) -> None:
        await self.send(text_data=json.dumps(payload, ensure_ascii=False, separators=(",", ":")))

    async def _error(self, code: str, message: str, ref: Any = None,
                     retry_after: int | None = None) -> None:
        # str() renders a lazy message in this socket's language; gettext() translates one
        # that was raised as plain English (the batch store's refusals).
        frame = {"type": "error", "code": code, "message": gettext(str(message)), "ref": ref}
        if retry_after is not None:
            frame["retry_after"] = retry_after
        await self._send(frame)


def _frame_refusal(frame: dict[str, Any]) -> ChatError | None:
    """A frame with a string no text may hold (services.message_text) is refused whole: such a
    string can be neither stored, nor looked up in PostgreSQL, nor sent back in a frame."""
    pending: list[Any] = [frame]
    while pending:  # a loop, not recursion: json.loads already allowed the frame's depth
        value = pending.pop()
        if isinstance(value, str):
            if (refusal := text_refusal(value)) is not None:
                return refusal
        elif isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return None


def _message_id(frame: dict[str, Any]) -> uuid.UUID:
    """The frame's "id", which names a message: checked before any lookup (and before a
    visitor's guest account is made)."""
    try:
        return uuid.UUID(frame.get("id"))
    except (TypeError, ValueError, AttributeError):
        raise ChatError("invalid", _("id must be a message's UUID.")) from None


def _drop_early(early: EarlyStart) -> None:
    """Closes a request the store did not admit; nothing of it was shown or saved."""
    early.refuse()
    try:
        runner().stop_local(str(early.reply_id))
    except RuntimeError:
        pass


async def _conv(conversation: Conversation) -> dict[str, Any]:
    return await database_sync_to_async(conversation_payload)(conversation)
