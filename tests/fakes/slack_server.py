"""A local fake of Slack's Web API, speaking its wire format, for slack-sdk pointed at it.

    with FakeSlack() as slack:
        AsyncWebClient(token="xoxb-test", base_url=slack.api_url)

Every method is ``POST /api/<method>`` with arguments in the query string, a form body or a JSON
body, and a bearer token; answers are ``{"ok": true, ...}`` or ``{"ok": false, "error": ...}``
with HTTP 200, as Slack sends them. Rate limits are HTTP 429 with Retry-After and
``{"ok": false, "error": "ratelimited"}``. Files go through the v2 flow:
files.getUploadURLExternal, a POST of the bytes to the returned URL, files.completeUploadExternal.
Messages are kept per channel so a test reads what a person would see.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.threaded import Fault, ThreadedFake

BOT_USER_ID = "U0CHATLAB"
MAX_TEXT = 40_000  # Slack refuses longer text with msg_too_long


@dataclass
class SlackMessage:
    channel: str
    ts: str
    text: str
    thread_ts: str | None = None
    edits: int = 0
    files: list[dict[str, Any]] = field(default_factory=list)


class FakeSlack(ThreadedFake):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.valid_tokens = {"xoxb-test-token"}
        self.revoked_tokens: set[str] = set()
        self.messages: list[SlackMessage] = []
        self.uploads: dict[str, dict[str, Any]] = {}
        self.responses: list[dict[str, Any]] = []  # what was posted to commands' response_url
        self._ids = itertools.count(1)

    @property
    def api_url(self) -> str:
        return f"{self.origin}/api/"

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self.messages.clear()
            self.uploads.clear()
            self.responses.clear()
            self.valid_tokens = {"xoxb-test-token"}
            self.revoked_tokens = set()

    def in_channel(self, channel: str) -> list[SlackMessage]:
        return [m for m in list(self.messages) if m.channel == channel]

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_post("/commands/{rest:.*}", self._response_url)

    # -- plumbing -------------------------------------------------------------------------
    async def _arguments(self, request: web.Request) -> dict[str, Any] | None:
        args: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                return None
            if not isinstance(body, dict):
                return None
            args.update(body)
        elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            args.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
        return args

    @staticmethod
    def _answer(status: int = 200, headers: dict[str, str] | None = None, **body: Any):
        return web.json_response(body, status=status, headers=headers)

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await self._arguments(request)
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        token = token.strip() if scheme == "Bearer" else (args or {}).get("token", "")
        self.calls.append({"name": method, "args": args, "token": token, "time": time.monotonic()})
        if args is None:
            return self._answer(ok=False, error="invalid_json")
        fault = self.take_fault(method)
        if fault is not None:
            if fault.status == 429:
                return self._answer(429, {"Retry-After": f"{fault.retry_after or 1:g}"},
                                    ok=False, error="ratelimited")
            if fault.status >= 500:
                return web.Response(status=fault.status, text="upstream connect error")
            return self._answer(ok=False, error=fault.error or "fatal_error")
        if not token:
            return self._answer(ok=False, error="not_authed")
        if token in self.revoked_tokens:
            return self._answer(ok=False, error="token_revoked")
        if token not in self.valid_tokens:
            return self._answer(ok=False, error="invalid_auth")
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return self._answer(ok=False, error="unknown_method")
        return handler(request, args)

    # -- methods --------------------------------------------------------------------------
    def _m_auth_test(self, request: web.Request, args: dict[str, Any]) -> web.Response:
        return self._answer(ok=True, url="https://chatlab-test.slack.com/", team="Chatlab Test",
                            user="chatlab", team_id="T0TEST", user_id=BOT_USER_ID,
                            bot_id="B0CHATLAB", is_enterprise_install=False)

    def _m_chat_postMessage(self, request: web.Request, args: dict[str, Any]) -> web.Response:
        channel, text = args.get("channel"), args.get("text") or ""
        if not channel:
            return self._answer(ok=False, error="channel_not_found")
        if not text and not args.get("blocks"):
            return self._answer(ok=False, error="no_text")
        if len(text) > MAX_TEXT:
            return self._answer(ok=False, error="msg_too_long")
        ts = f"{int(time.time())}.{next(self._ids):06d}"
        message = SlackMessage(channel=channel, ts=ts, text=text,
                               thread_ts=args.get("thread_ts") or None)
        self.messages.append(message)
        return self._answer(ok=True, channel=channel, ts=ts, message={
            "type": "message", "text": text, "user": BOT_USER_ID, "bot_id": "B0CHATLAB",
            "ts": ts, **({"thread_ts": message.thread_ts} if message.thread_ts else {})})

    def _m_chat_update(self, request: web.Request, args: dict[str, Any]) -> web.Response:
        channel, ts, text = args.get("channel"), args.get("ts"), args.get("text") or ""
        message = next((m for m in self.messages if m.channel == channel and m.ts == ts), None)
        if message is None:
            return self._answer(ok=False, error="message_not_found")
        if not text:
            return self._answer(ok=False, error="no_text")
        if len(text) > MAX_TEXT:
            return self._answer(ok=False, error="msg_too_long")
        message.text, message.edits = text, message.edits + 1
        return self._answer(ok=True, channel=channel, ts=ts, text=text,
                            message={"type": "message", "text": text, "user": BOT_USER_ID})

    def _m_files_getUploadURLExternal(self, request: web.Request,
                                      args: dict[str, Any]) -> web.Response:
        filename, length = args.get("filename"), str(args.get("length", ""))
        if not filename or not length.isdigit():
            return self._answer(ok=False, error="invalid_arguments")
        file_id = f"F{next(self._ids):08d}"
        self.uploads[file_id] = {"filename": filename, "length": int(length), "data": None}
        return self._answer(ok=True, file_id=file_id,
                            upload_url=f"{self.origin}/upload/{file_id}")

    def _m_files_completeUploadExternal(self, request: web.Request,
                                        args: dict[str, Any]) -> web.Response:
        try:
            files = json.loads(args.get("files") or "")
        except ValueError:
            return self._answer(ok=False, error="invalid_arguments")
        done = []
        for item in files if isinstance(files, list) else []:
            upload = self.uploads.get(item.get("id"))
            if upload is None or upload["data"] is None:
                return self._answer(ok=False, error="file_not_found")
            done.append({"id": item["id"], "name": upload["filename"],
                         "title": item.get("title") or upload["filename"],
                         "size": len(upload["data"])})
        channel = args.get("channel_id") or args.get("channels")
        if channel:
            self.messages.append(SlackMessage(
                channel=channel, ts=f"{int(time.time())}.{next(self._ids):06d}",
                text=args.get("initial_comment") or "", thread_ts=args.get("thread_ts") or None,
                files=done))
        return self._answer(ok=True, files=done)

    async def _upload(self, request: web.Request) -> web.Response:
        upload = self.uploads.get(request.match_info["file_id"])
        data = await request.read()
        self.calls.append({"name": "upload", "args": {"size": len(data)}, "token": "",
                           "time": time.monotonic()})
        if upload is None:
            return web.Response(status=404, text="not found")
        upload["data"] = data
        return web.Response(text=f"OK - {len(data)}")

    def response_url(self, name: str = "T0TEST/1/abc") -> str:
        """A slash command's response_url, pointing here (Slack's is on hooks.slack.com)."""
        return f"{self.origin}/commands/{name}"

    async def _response_url(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return web.Response(status=400, text="invalid_payload")
        self.responses.append(body)
        return web.Response(text="ok")  # Slack answers response_url posts with plain "ok"


__all__ = ["BOT_USER_ID", "Fault", "FakeSlack", "SlackMessage"]
