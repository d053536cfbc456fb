"""Stores sockets' first messages together (group commit).

When many people start conversations at once, storing each first message on its own costs
about ten queries and most of a millisecond of CPU per query, all under one process's GIL. A
web process instead queues them: while one batch is being stored, the next one gathers, and
each batch is checked and written in a fixed number of queries (messages.new_conversations_send).
A lone message is stored at once, as a batch of one.

Unless its model request has already left (services.early): then nothing waits on the store but
the first token, hundreds of milliseconds away, while the database thread's CPU would hold the
GIL that the event loop needs to start the other replies of the same burst. Such a batch waits
until the socket frames stop coming (LINGER_QUIET), at most LINGER_MAX, and is stored in the
quiet that follows (bench/README.md).
"""

from __future__ import annotations

import asyncio
import contextvars
import weakref

from accounts.models import User
from conversations.db_threads import on_db_thread

from .errors import ChatError
from .messages import NewConversationSend, SentMessage, new_conversations_send

BATCH_LIMIT = 64
LINGER_QUIET = 0.025
LINGER_MAX = 0.15

_batchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, FirstMessages] = (
    weakref.WeakKeyDictionary()
)


def first_messages() -> FirstMessages:
    loop = asyncio.get_running_loop()
    found = _batchers.get(loop)
    if found is None:
        found = _batchers[loop] = FirstMessages()
    return found


def store_first_messages(sends: list[NewConversationSend]) -> list[SentMessage | ChatError]:
    """The socket's checks (is the account still active?) and then the batch store."""
    active = set(
        User.objects.filter(pk__in={s.user.pk for s in sends}, is_active=True)
        .values_list("pk", flat=True)
    )
    allowed = [s for s in sends if s.user.pk in active]
    stored = iter(new_conversations_send(allowed) if allowed else [])
    deactivated = ChatError("deactivated", "Your account is not active.")
    return [next(stored) if s.user.pk in active else deactivated for s in sends]


class FirstMessages:
    def __init__(self) -> None:
        self._pending: list[tuple[NewConversationSend, asyncio.Future[SentMessage | ChatError]]] = []
        self._drainer: asyncio.Task[None] | None = None
        self._last_frame = 0.0

    def note_frame(self) -> None:
        """A socket frame arrived on this process (the burst it belongs to goes on)."""
        self._last_frame = asyncio.get_running_loop().time()

    async def store(self, send: NewConversationSend) -> SentMessage:
        """Stores one first message with whatever others are waiting; raises its ChatError."""
        future: asyncio.Future[SentMessage | ChatError] = (
            asyncio.get_running_loop().create_future()
        )
        self._pending.append((send, future))
        if self._drainer is None or self._drainer.done():
            # Its own context: the batch outlives the socket frame that started it.
            self._drainer = asyncio.create_task(self._drain(), context=contextvars.Context())
        result = await asyncio.shield(future)
        if isinstance(result, ChatError):
            raise result
        return result

    async def _linger(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LINGER_MAX
        while (now := loop.time()) < deadline:
            quiet_for = now - self._last_frame
            if quiet_for >= LINGER_QUIET:
                return
            await asyncio.sleep(min(LINGER_QUIET - quiet_for, deadline - now))

    async def _drain(self) -> None:
        while self._pending:
            if all(send.ids is not None for send, _ in self._pending):
                await self._linger()  # every request is out already
            batch, self._pending = self._pending[:BATCH_LIMIT], self._pending[BATCH_LIMIT:]
            try:
                results = await on_db_thread(store_first_messages)([s for s, _ in batch])
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
