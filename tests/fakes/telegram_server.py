"""A local fake of the Telegram Bot API that speaks its wire format.

Requests are ``POST /bot<token>/<method>`` with a JSON or multipart body (aiogram sends files as
multipart); answers are ``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code": n,
"description": "...", "parameters": {"retry_after": s}}`` as Telegram sends them. It runs aiohttp
on its own loop in a daemon thread (``with FakeTelegram() as fake: ...``), records every call,
and can be told to fail: ``fail(method, status, retry_after=..., times=n)`` answers the next n
calls of that method with the error, ``revoke(token)`` answers 401 for a token from then on.
Tests wait for calls with ``wait_for(predicate)`` (a condition variable, not sleeps).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BOT_ID = 7000001
TOKEN = f"{BOT_ID}:AAE-fake-token-secret-value-xyz"
USERNAME = "chatlab_test_bot"


@dataclass
class Call:
    token: str
    method: str
    params: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)
    status: int = 200
    time: float = 0.0
    result: Any = None  # what the call answered (a sent message carries its message_id)


class FakeTelegram:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self.calls: list[Call] = []
        self.tokens = {TOKEN: (BOT_ID, USERNAME)}
        self.revoked: set[str] = set()
        self.webhook: dict[str, Any] = {}
        self._failures: dict[str, deque[tuple[int, float | None]]] = {}
        self._ids = itertools.count(100)
        self._changed = threading.Condition()
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- test-side controls ---------------------------------------------------------------
    def reset(self) -> None:
        with self._changed:
            self.calls.clear()
            self.revoked.clear()
            self._failures.clear()
            self.webhook = {}

    def fail(self, method: str, status: int, *, retry_after: float | None = None,
             times: int = 1) -> None:
        with self._changed:
            queue = self._failures.setdefault(method.lower(), deque())
            queue.extend([(status, retry_after)] * times)

    def revoke(self, token: str = TOKEN) -> None:
        self.revoked.add(token)

    def calls_of(self, method: str, *, ok_only: bool = True) -> list[Call]:
        with self._changed:
            return [c for c in self.calls if c.method.lower() == method.lower()
                    and (c.status == 200 or not ok_only)]

    def shown(self) -> list[str]:
        """What each message the bot sent shows now (its last edit), in the order sent."""
        with self._changed:
            texts: dict[int, str] = {}
            for call in self.calls:
                if call.status != 200:
                    continue
                if call.method.lower() == "sendmessage":
                    texts[call.result["message_id"]] = call.params["text"]
                elif call.method.lower() == "editmessagetext":
                    texts[int(call.params["message_id"])] = call.params["text"]
            return list(texts.values())

    def wait_for(self, predicate: Callable[[FakeTelegram], bool], timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"fake Telegram: condition not met; calls: "
                                       f"{[(c.method, c.status) for c in self.calls]}")
                self._changed.wait(left)

    # -- the API ----------------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.Response:
        token, method = request.match_info["token"], request.match_info["method"]
        params, files = await self._read(request)
        status, result = self._answer(token, method, params)
        with self._changed:
            self.calls.append(Call(token, method, params, files, status, time.monotonic(),
                                   result.get("result")))
            self._changed.notify_all()
        return web.json_response(result, status=status)

    async def _read(self, request: web.Request) -> tuple[dict[str, Any], dict[str, bytes]]:
        params: dict[str, Any] = {}
        files: dict[str, bytes] = {}
        if request.content_type == "application/json":
            params = await request.json()
        elif request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                if part.filename:  # type: ignore[union-attr]
                    files[part.name or ""] = await part.read()  # type: ignore[union-attr]
                else:
                    params[part.name or ""] = _value(await part.text())  # type: ignore[union-attr]
        else:
            params = {k: _value(v) for k, v in (await request.post()).items()
                      if isinstance(v, str)}
        # aiogram names uploaded files in a field as "attach://<part name>".
        for key, value in params.items():
            if isinstance(value, str) and value.startswith("attach://"):
                files[key] = files.get(value[len("attach://"):], b"")
        return params, files

    def _answer(self, token: str, method: str, params: dict[str, Any]) -> tuple[int, Any]:
        if token not in self.tokens or token in self.revoked:
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        queue = self._failures.get(method.lower())
        if queue:
            status, retry_after = queue.popleft()
            body: dict[str, Any] = {"ok": False, "error_code": status,
                                    "description": _DESCRIPTIONS.get(status, "Error")}
            if retry_after is not None:
                body["parameters"] = {"retry_after": retry_after}
                body["description"] = f"Too Many Requests: retry after {retry_after}"
            return status, body
        bot_id, username = self.tokens[token]
        name = method.lower()
        if name == "getme":
            return 200, _ok({"id": bot_id, "is_bot": True, "first_name": "Chatlab",
                             "username": username})
        if name == "setwebhook":
            self.webhook = {k: params.get(k) for k in ("url", "secret_token", "allowed_updates")}
            return 200, _ok(True)
        if name == "getwebhookinfo":
            return 200, _ok({"url": self.webhook.get("url") or "",
                             "has_custom_certificate": False, "pending_update_count": 0})
        if name in ("sendmessage", "sendphoto"):
            message = self._message(bot_id, username, params)
            if name == "sendphoto":
                message["photo"] = [{"file_id": "photo", "file_unique_id": "p", "width": 64,
                                     "height": 64}]
                message["caption"] = params.get("caption", "")
            else:
                message["text"] = params.get("text", "")
            return 200, _ok(message)
        if name == "editmessagetext":
            message = self._message(bot_id, username, params,
                                    message_id=int(params["message_id"]))
            message["text"] = params.get("text", "")
            return 200, _ok(message)
        if name == "sendchataction":
            return 200, _ok(True)
        return 404, {"ok": False, "error_code": 404, "description": "Not Found: method not found"}

    def _message(self, bot_id: int, username: str, params: dict[str, Any],
                 message_id: int | None = None) -> dict[str, Any]:
        chat_id = int(params.get("chat_id", 0))
        return {
            "message_id": message_id if message_id is not None else next(self._ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"},
            "from": {"id": bot_id, "is_bot": True, "first_name": "Chatlab",
                     "username": username},
        }

    # -- lifecycle ------------------------------------------------------------------------
    async def _start(self) -> None:
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_post("/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    def start(self) -> FakeTelegram:
        ready = threading.Event()

        def run() -> None:
            loop = self._loop = asyncio.new_event_loop()
            loop.run_until_complete(self._start())
            ready.set()
            loop.run_forever()

        self._thread = threading.Thread(target=run, name="fake-telegram", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is None or self._runner is None:
            return
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> FakeTelegram:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


_DESCRIPTIONS = {
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden: bot was blocked by the user",
    429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
}


def _ok(result: Any) -> dict[str, Any]:
    return {"ok": True, "result": result}


def _value(text: str) -> Any:
    # Multipart fields carry JSON for objects (reply_parameters) and plain text for the rest.
    try:
        return json.loads(text)
    except ValueError:
        return text
