"""Telegram's outbound transport: aiogram's Bot, pointed at CHATLAB_TELEGRAM_API_URL.

One aiogram Bot (one aiohttp session) per integration and token per event loop, reused by
every reply on that loop. aiogram's errors become TransportErrors: 429 keeps its retry_after,
5xx and network failures are worth another try, a revoked token (401) or a chat the bot may not
write to (403) is permanent. Messages never name the token.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import time
import weakref
from collections.abc import AsyncIterator, Awaitable
from typing import TYPE_CHECKING, Any, TypeVar

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import BufferedInputFile, ReplyParameters
from django.conf import settings

from ..transports.base import Target, TransportError, scrub
from .render import markdown_to_telegram_html

if TYPE_CHECKING:
    from ..models import Integration

T = TypeVar("T")

MAX_CHARS = 4096

# Per chat (and event loop): a lock and when its last call ended. Telegram allows about one
# message or edit a second per chat, and two replies in one group (two people asking) share it.
_chats: dict[tuple[int, int, str], list[Any]] = {}

_bots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[int, str, str], Bot]] = (
    weakref.WeakKeyDictionary()
)


def telegram_bot(integration: Integration) -> Bot:
    """This loop's aiogram Bot for the integration (made on first use)."""
    loop = asyncio.get_running_loop()
    token = integration.credential("token")
    api = settings.CHATLAB_TELEGRAM_API_URL
    bots = _bots.setdefault(loop, {})
    key = (integration.pk, token, api)
    bot = bots.get(key)
    if bot is None:
        session = AiohttpSession(api=TelegramAPIServer.from_base(api), timeout=30)
        bot = bots[key] = Bot(token=token, session=session,
                              default=DefaultBotProperties(parse_mode=ParseMode.HTML))
    return bot


async def telegram_call(integration: Integration, call: Awaitable[T]) -> T:
    """Awaits an aiogram call, turning its errors into TransportErrors without secrets."""
    try:
        return await call
    except TelegramRetryAfter as exc:
        raise TransportError(f"Telegram: too many requests (retry after {exc.retry_after} s)",
                             retry_after=float(exc.retry_after)) from None
    except (TelegramServerError, TelegramNetworkError) as exc:
        raise TransportError(_describe(integration, exc)) from None
    except TelegramUnauthorizedError as exc:
        raise TransportError(_describe(integration, exc, "the token was refused (revoked?)"),
                             permanent=True) from None
    except (TelegramForbiddenError, TelegramBadRequest, TelegramNotFound) as exc:
        raise TransportError(_describe(integration, exc), permanent=True) from None
    except TelegramAPIError as exc:
        raise TransportError(_describe(integration, exc), permanent=True) from None
    except (OSError, asyncio.TimeoutError) as exc:
        raise TransportError(_describe(integration, exc)) from None


def _describe(integration: Integration, exc: BaseException, hint: str = "") -> str:
    text = f"Telegram: {type(exc).__name__}: {getattr(exc, 'message', None) or exc}"
    if hint:
        text += f" ({hint})"
    return scrub(text, integration.secrets())


class TelegramTransport:
    max_chars = MAX_CHARS

    def __init__(self, integration: Integration) -> None:
        self.integration = integration
        self.edit_interval = settings.CHATLAB_TELEGRAM_EDIT_INTERVAL

    def render(self, markdown: str) -> str:
        return markdown_to_telegram_html(markdown)

    def _placement(self, target: Target) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if target.thread_id:
            extra["message_thread_id"] = int(target.thread_id)
        replied = target.reply_ref.get("message_id")
        if replied and not target.reply_ref.get("private"):
            # In a group the answer quotes the question, so people see whom it answers.
            extra["reply_parameters"] = ReplyParameters(message_id=int(replied),
                                                        allow_sending_without_reply=True)
        return extra

    @contextlib.asynccontextmanager
    async def _paced(self, chat_id: str) -> AsyncIterator[None]:
        """One call at a time per chat, each at least edit_interval after the previous one
        ended (Telegram counts what arrives)."""
        now = time.monotonic()
        if len(_chats) > 10_000:  # forget chats that went quiet
            for key in [k for k, v in _chats.items() if v[1] < now - 60 and not v[0].locked()]:
                del _chats[key]
        key = (id(asyncio.get_running_loop()), self.integration.pk, chat_id)
        state = _chats.setdefault(key, [asyncio.Lock(), 0.0])
        async with state[0]:
            wait = state[1] + self.edit_interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                yield
            finally:
                state[1] = time.monotonic()

    async def send(self, target: Target, text: str) -> str:
        bot = telegram_bot(self.integration)
        async with self._paced(target.chat_id):
            sent = await telegram_call(self.integration, bot.send_message(
                chat_id=int(target.chat_id), text=text, **self._placement(target)))
        return str(sent.message_id)

    async def edit(self, target: Target, ref: str, text: str) -> None:
        bot = telegram_bot(self.integration)
        try:
            async with self._paced(target.chat_id):
                await telegram_call(self.integration, bot.edit_message_text(
                    chat_id=int(target.chat_id), message_id=int(ref), text=text))
        except TransportError as exc:
            if "message is not modified" not in exc.message:
                raise

    async def send_image(self, target: Target, data: bytes, filename: str,
                         caption: str) -> None:
        bot = telegram_bot(self.integration)
        await telegram_call(self.integration, bot.send_photo(
            chat_id=int(target.chat_id), photo=BufferedInputFile(data, filename=filename),
            caption=markdown_to_telegram_html(caption)[:1024], **self._placement(target)))


@atexit.register
def _close_sessions() -> None:
    """Closes the HTTP sessions of loops still running in other threads (the shared loop), so
    the process ends without aiohttp's unclosed-session warnings."""
    for loop, bots in list(_bots.items()):
        if not loop.is_running() or loop.is_closed() or not bots:
            continue

        async def close(found: list[Bot] = list(bots.values())) -> None:
            for bot in found:
                await bot.session.close()

        try:
            asyncio.run_coroutine_threadsafe(close(), loop).result(2)
        except Exception:  # shutting down anyway
            pass


def transport(integration: Integration) -> TelegramTransport:
    return TelegramTransport(integration)
