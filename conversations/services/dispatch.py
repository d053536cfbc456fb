"""Starting an interactive reply from synchronous code (REST views).

Interactive replies run on the event loop of the web process that took the request. A sync view
under ASGI runs in a worker thread that knows that loop (asgiref records it); the reply is
handed to it once the transaction that stored the messages commits. Outside ASGI (a management
command, a WSGI test client) there is no such loop, and the process's shared background loop
runs the reply instead.
"""

from __future__ import annotations

import asyncio
import uuid

from asgiref.sync import SyncToAsync
from django.db import transaction

from conversations.worker_loop import shared_loop

from .runner import runner


def _web_loop() -> asyncio.AbstractEventLoop | None:
    loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    return loop if loop is not None and loop.is_running() else None


async def _start(reply_id: str, conversation_id: str,
                 history: list[dict[str, str]] | None) -> None:
    # A REST client reads the reply by attaching to its stream, which asks for it: nothing is
    # published to the group until someone does.
    runner().start(reply_id, conversation_id, followed=False, history=history)


def reply_start_soon(reply_id: uuid.UUID | str, conversation_id: uuid.UUID | str, *,
                     history: list[dict[str, str]] | None = None) -> None:
    """``history``: a conversation's first message, when the caller knows it is the only one
    (the reply then completes the first exchange, which asks for a title)."""
    loop = _web_loop() or shared_loop()

    def hand_over() -> None:
        asyncio.run_coroutine_threadsafe(
            _start(str(reply_id), str(conversation_id), history), loop)

    transaction.on_commit(hand_over)


async def reply_stop(message_id: uuid.UUID | str) -> None:
    await runner().stop(message_id)
