"""A local fake of the parts of Discord's HTTP API an interactions-endpoint app uses.

    with FakeDiscord() as discord:
        httpx.AsyncClient(base_url=discord.api_url)

Interaction follow-ups (no bot token: the interaction token in the path is the credential):
  PATCH /webhooks/{application_id}/{token}/messages/@original   edit the deferred response
  PATCH /webhooks/{application_id}/{token}/messages/{message_id}
  POST  /webhooks/{application_id}/{token}                      a follow-up message
  (JSON, or multipart with payload_json and files[n] for attachments)
Bot endpoints ("Authorization: Bot <token>"):
  PUT /applications/{id}/commands, GET|PATCH /applications/@me, GET /users/@me.
Errors as Discord sends them: 429 with {"retry_after": s, "global": false} and Retry-After,
401 {"message": "401: Unauthorized", "code": 0}, 404 Unknown Webhook (10015), 400 Invalid Form
Body (50035) for content over 2000 characters. A test opens an interaction with
`open_interaction()` before it posts the interaction to the endpoint.

Setting the interactions endpoint URL is checked as Discord checks it when `signing_key` is set
(the private half of the application's public key): the fake sends the URL a correctly signed
PING, which must get PONG, and a badly signed one, which must get 401; otherwise the change is
refused with 400.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from nacl.signing import SigningKey

from tests.fakes.threaded import Fault, ThreadedFake

APPLICATION_ID = "1100000000000000001"
MAX_CONTENT = 2000


@dataclass
class DiscordMessage:
    id: str
    content: str
    edits: int = 0
    attachments: list[dict[str, Any]] = field(default_factory=list)
    allowed_mentions: dict[str, Any] | None = None


@dataclass
class Interaction:
    token: str
    original: DiscordMessage
    followups: list[DiscordMessage] = field(default_factory=list)

    @property
    def messages(self) -> list[DiscordMessage]:
        return [self.original, *self.followups]


class FakeDiscord(ThreadedFake):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bot_token = "discord-bot-token"
        self.public_key = ""  # the application's verify_key, set by the test
        self.signing_key: SigningKey | None = None  # signs the endpoint check's PINGs
        self.application: dict[str, Any] = {}
        self.commands: list[dict[str, Any]] = []
        self.interactions: dict[str, Interaction] = {}
        self._ids = itertools.count(1)
        self.reset()

    @property
    def api_url(self) -> str:
        return f"{self.origin}/api/v10"

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self.bot_token = "discord-bot-token"
            self.application = {"id": APPLICATION_ID, "name": "Chatlab",
                                "interactions_endpoint_url": None}
            self.commands = []
            self.interactions = {}
            self.signing_key = None
            self.endpoint_checks: list[tuple[str, int, Any]] = []

    def open_interaction(self, token: str) -> Interaction:
        """Discord shows the deferred response as a 'thinking' message: the @original."""
        interaction = Interaction(token=token, original=self._message(""))
        self.interactions[token] = interaction
        return interaction

    def routes(self, app: web.Application) -> None:
        base = "/api/v10"
        app.router.add_patch(base + "/webhooks/{app_id}/{token}/messages/{message_id}",
                             self._edit)
        app.router.add_post(base + "/webhooks/{app_id}/{token}", self._followup)
        app.router.add_put(base + "/applications/{app_id}/commands", self._put_commands)
        app.router.add_route("*", base + "/applications/@me", self._application)
        app.router.add_get(base + "/users/@me", self._me)

    # -- plumbing -------------------------------------------------------------------------
    def _message(self, content: str) -> DiscordMessage:
        return DiscordMessage(id=str(1_200_000_000_000_000_000 + next(self._ids)), content=content)

    @staticmethod
    def _error(status: int, message: str, code: int = 0, **extra: Any) -> web.Response:
        return web.json_response({"message": message, "code": code, **extra}, status=status)

    def _record(self, name: str, request: web.Request, body: Any) -> web.Response | None:
        self.calls.append({"name": name, "path": request.path, "body": body,
                           "authorization": request.headers.get("Authorization"),
                           "time": time.monotonic()})
        fault = self.take_fault(name)
        if fault is None:
            return None
        if fault.status == 429:
            retry = fault.retry_after or 1.0
            return web.json_response(
                {"message": "You are being rate limited.", "retry_after": retry, "global": False},
                status=429, headers={"Retry-After": f"{retry:g}", "X-RateLimit-Scope": "user"})
        if fault.status >= 500:
            return web.Response(status=fault.status, text="upstream connect error")
        return self._error(fault.status, fault.error or "Fault", 0)

    def _bot_ok(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bot {self.bot_token}"

    async def _payload(self, request: web.Request) -> tuple[Any, list[dict[str, Any]]]:
        """The JSON payload and the uploaded files (multipart: payload_json + files[n])."""
        if request.content_type.startswith("multipart/"):
            payload: Any = None
            files: list[dict[str, Any]] = []
            reader = await request.multipart()
            async for part in reader:
                if part.name == "payload_json":
                    payload = json.loads(await part.text())
                elif part.name and part.name.startswith("files["):
                    files.append({"field": part.name, "filename": part.filename,
                                  "data": bytes(await part.read()),
                                  "content_type": part.headers.get("Content-Type")})
            return payload, files
        try:
            return await request.json(), []
        except ValueError:
            return None, []

    def _invalid_content(self, payload: Any) -> web.Response | None:
        if not isinstance(payload, dict):
            return self._error(400, "Cannot send an empty message", 50006)
        if len(payload.get("content") or "") > MAX_CONTENT:
            return self._error(400, "Invalid Form Body", 50035, errors={"content": {"_errors": [
                {"code": "BASE_TYPE_MAX_LENGTH",
                 "message": f"Must be {MAX_CONTENT} or fewer in length."}]}})
        return None

    def _store(self, message: DiscordMessage, payload: dict[str, Any],
               files: list[dict[str, Any]]) -> None:
        if "content" in payload:
            message.content = payload["content"] or ""
        message.allowed_mentions = payload.get("allowed_mentions")
        message.attachments.extend({"filename": f["filename"], "size": len(f["data"]),
                                    "data": f["data"]} for f in files)

    @staticmethod
    def _as_json(message: DiscordMessage, app_id: str) -> dict[str, Any]:
        return {"id": message.id, "type": 20, "content": message.content,
                "application_id": app_id, "webhook_id": app_id,
                "attachments": [{"id": str(i), "filename": a["filename"], "size": a["size"]}
                                for i, a in enumerate(message.attachments)]}

    # -- interaction webhooks -------------------------------------------------------------
    async def _edit(self, request: web.Request) -> web.Response:
        payload, files = await self._payload(request)
        failure = self._record("edit", request, payload)
        if failure is not None:
            return failure
        interaction = self.interactions.get(request.match_info["token"])
        if interaction is None or request.match_info["app_id"] != self.application["id"]:
            return self._error(404, "Unknown Webhook", 10015)
        wanted = request.match_info["message_id"]
        message = next((m for m in interaction.messages
                        if wanted == m.id or (wanted == "@original" and m is interaction.original)),
                       None)
        if message is None:
            return self._error(404, "Unknown Message", 10008)
        if (invalid := self._invalid_content(payload)) is not None:
            return invalid
        self._store(message, payload, files)
        message.edits += 1
        return web.json_response(self._as_json(message, self.application["id"]))

    async def _followup(self, request: web.Request) -> web.Response:
        payload, files = await self._payload(request)
        failure = self._record("followup", request, payload)
        if failure is not None:
            return failure
        interaction = self.interactions.get(request.match_info["token"])
        if interaction is None or request.match_info["app_id"] != self.application["id"]:
            return self._error(404, "Unknown Webhook", 10015)
        if not files and (invalid := self._invalid_content(payload)) is not None:
            return invalid
        message = self._message("")
        self._store(message, payload or {}, files)
        interaction.followups.append(message)
        return web.json_response(self._as_json(message, self.application["id"]))

    # -- bot endpoints --------------------------------------------------------------------
    async def _put_commands(self, request: web.Request) -> web.Response:
        payload, _ = await self._payload(request)
        failure = self._record("commands", request, payload)
        if failure is not None:
            return failure
        if not self._bot_ok(request):
            return self._error(401, "401: Unauthorized")
        if request.match_info["app_id"] != self.application["id"]:
            return self._error(403, "Missing Access", 50001)
        if not isinstance(payload, list) or not all(
                isinstance(c, dict) and c.get("name") and c.get("description") for c in payload):
            return self._error(400, "Invalid Form Body", 50035)
        self.commands = [{**c, "id": str(next(self._ids)), "application_id": self.application["id"],
                          "version": "1"} for c in payload]
        return web.json_response(self.commands)

    async def _application(self, request: web.Request) -> web.Response:
        payload, _ = (await self._payload(request)) if request.method == "PATCH" else (None, [])
        failure = self._record(f"application.{request.method.lower()}", request, payload)
        if failure is not None:
            return failure
        if not self._bot_ok(request):
            return self._error(401, "401: Unauthorized")
        if request.method == "PATCH":
            if not isinstance(payload, dict):
                return self._error(400, "Invalid Form Body", 50035)
            url = payload.get("interactions_endpoint_url")
            if url and self.signing_key is not None and not await self._endpoint_ok(url):
                return self._error(400, "Invalid Form Body", 50035, errors={
                    "interactions_endpoint_url": {"_errors": [{
                        "code": "APPLICATION_INTERACTIONS_ENDPOINT_URL_INVALID",
                        "message": "The specified interactions endpoint url could not be "
                                   "verified."}]}})
            self.application.update({k: payload[k] for k in ("interactions_endpoint_url",)
                                     if k in payload})
        return web.json_response({**self.application, "verify_key": self.public_key,
                                  "bot_public": True})

    async def _endpoint_ok(self, url: str) -> bool:
        assert self.signing_key is not None
        body = json.dumps({"id": str(next(self._ids)), "application_id": self.application["id"],
                           "type": 1, "version": 1, "token": "ping"}).encode()
        stamp = str(int(time.time()))
        good = self.signing_key.sign(stamp.encode() + body).signature.hex()
        bad = SigningKey.generate().sign(stamp.encode() + body).signature.hex()
        results = []
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            for signature in (good, bad):
                headers = {"X-Signature-Ed25519": signature, "X-Signature-Timestamp": stamp,
                           "Content-Type": "application/json"}
                async with session.post(url, data=body, headers=headers) as response:
                    answer = await response.json() if response.status == 200 else None
                    self.endpoint_checks.append((signature, response.status, answer))
                    results.append((response.status, answer))
        return results[0] == (200, {"type": 1}) and results[1][0] == 401

    async def _me(self, request: web.Request) -> web.Response:
        failure = self._record("me", request, None)
        if failure is not None:
            return failure
        if not self._bot_ok(request):
            return self._error(401, "401: Unauthorized")
        return web.json_response({"id": self.application["id"], "username": "Chatlab",
                                  "discriminator": "0", "bot": True})


__all__ = ["APPLICATION_ID", "DiscordMessage", "Fault", "FakeDiscord", "Interaction"]
