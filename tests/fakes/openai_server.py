"""A local fake of the OpenAI Chat Completions API that speaks the real wire format.

Use it in-process (``with FakeOpenAI() as fake: ...`` runs aiohttp on its own event loop
in a daemon thread) or as a separate process::

    python -m tests.fakes.openai_server --port 8765 --ttft 0.3 --rate 50 --tokens 200

Replies are deterministic: ``Echo: <last user message>`` padded with lorem-ipsum words up
to ``tokens`` tokens, where one token is one word plus its trailing whitespace and is sent
as one SSE chunk. Behaviours scripted with ``script()`` (or ``POST /_fake/script``) override
the default for one request each, in FIFO order: errors, hangs, dropped connections, pacing.

Like OpenAI, it refuses what a model does not take: reasoning models (gpt-5*, o1*, o3*, o4*, and
any name in ``reasoning_models``, e.g. an Azure deployment) answer 400 to ``max_tokens`` and to a
``temperature`` or ``top_p`` other than 1, and report
``completion_tokens_details.reasoning_tokens``; other models answer 400 to ``reasoning_effort``. Models named in ``reasoning_stream_models``
(``deepseek-r1`` by default, as vLLM, Ollama or LM Studio serve it) stream ``reasoning_content``
deltas before the content. Reasoning tokens are reported, not charged against the output limit.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
import re
import signal
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, fields
from typing import Any

from aiohttp import web

FILLER = (
    "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor "
    "incididunt ut labore et dolore magna aliqua"
).split()
MODELS = ("gpt-4o-mini", "gpt-4o", "gpt-4.1-nano", "gpt-5-mini", "o4-mini", "deepseek-r1")
# OpenAI's reasoning families: no max_tokens, only the default temperature and top_p.
REASONING_PREFIXES = ("gpt-5", "o1", "o3", "o4")
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high")
REASONING_TOKENS = 16  # what a reasoning model reports having thought, per request
# Error "type"/"code" as the real API sends them for each status.
ERROR_KINDS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}


@dataclass
class Behaviour:
    """One scripted answer, consumed by one chat-completions request."""

    status: int = 200  # non-200 -> OpenAI-style JSON error; `text` (if set) is its message
    text: str | None = None  # reply text; None -> default generated reply
    hang: bool = False  # accept the request, then never answer
    ttft: float | None = None  # override seconds to first token
    rate: float | None = None  # override tokens per second (0 = no pacing)
    tokens: int | None = None  # override number of tokens in the default reply
    drop_after: int | None = None  # send this many content chunks, then cut the connection
    retry_after: float | None = None  # `retry-after` header (seconds) on an error response
    # Images API only (consumed by /v1/images/generations through script_images()):
    code: str | None = None  # error "code", e.g. "content_policy_violation"
    image_url: str | None = None  # answer {"url": image_url} instead of the default
    image_b64: str | None = None  # answer this as b64_json (e.g. something not an image)


def split_tokens(text: str) -> list[str]:
    """Split into word + trailing whitespace; ``"".join(split_tokens(t)) == t`` always holds."""
    return re.findall(r"\s*\S+\s*|\s+", text)


def message_text(message: dict[str, Any]) -> str:
    """The text of a message; `content` may be a string or a list of typed parts."""
    content = message.get("content")
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else ""


def default_reply(messages: list[dict[str, Any]], tokens: int) -> str:
    """``Echo: <last user message>`` padded with filler words to exactly `tokens` tokens."""
    last_user = next((m for m in reversed(messages) if m.get("role") == "user"), {})
    echo = f"Echo: {message_text(last_user)}"
    missing = tokens - len(split_tokens(echo))
    if missing <= 0:
        return echo
    filler = " ".join(itertools.islice(itertools.cycle(FILLER), missing))
    return echo + ("" if echo[-1].isspace() else " ") + filler


def error_body(status: int, message: str) -> dict[str, Any]:
    fallback = ("server_error" if status >= 500 else "invalid_request_error", None)
    kind, code = ERROR_KINDS.get(status, fallback)
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def error_response(status: int, message: str, retry_after: float | None = None) -> web.Response:
    headers = {"x-request-id": f"req_{uuid.uuid4().hex}"}
    if retry_after is not None:
        headers["retry-after"] = f"{retry_after:g}"
    return web.json_response(error_body(status, message), status=status, headers=headers)


def refusal(message: str, param: str, code: str) -> web.Response:
    """OpenAI's 400 for a parameter or value the model does not take."""
    body = {"error": {"message": message, "type": "invalid_request_error", "param": param,
                      "code": code}}
    return web.json_response(body, status=400, headers={"x-request-id": f"req_{uuid.uuid4().hex}"})


def model_refusal(body: dict[str, Any], reasoning: bool) -> web.Response | None:
    """What OpenAI answers a request whose parameters the model does not take (one at a time,
    max_tokens first, as the real API reports them), or None."""
    if reasoning:
        if body.get("max_tokens") is not None:
            return refusal("Unsupported parameter: 'max_tokens' is not supported with this model. "
                           "Use 'max_completion_tokens' instead.", "max_tokens",
                           "unsupported_parameter")
        for name in ("temperature", "top_p"):
            value = body.get(name)
            if value is not None and value != 1:
                return refusal(f"Unsupported value: '{name}' does not support {value} with this "
                               "model. Only the default (1) value is supported.", name,
                               "unsupported_value")
        effort = body.get("reasoning_effort")
        if effort is not None and effort not in REASONING_EFFORTS:
            supported = ", ".join(f"'{e}'" for e in REASONING_EFFORTS)
            return refusal(f"Invalid value: '{effort}'. Supported values are: {supported}.",
                           "reasoning_effort", "invalid_value")
    elif body.get("reasoning_effort") is not None:
        return refusal("Unsupported parameter: 'reasoning_effort' is not supported with this "
                       "model.", "reasoning_effort", "unsupported_parameter")
    return None


# Sizes the images API accepts per model, as OpenAI documents them.
IMAGE_SIZES: dict[str, tuple[str, ...]] = {
    "gpt-image-1": ("1024x1024", "1536x1024", "1024x1536", "auto"),
    "dall-e-3": ("1024x1024", "1792x1024", "1024x1792"),
    "dall-e-2": ("256x256", "512x512", "1024x1024"),
}


def fake_png(width: int, height: int, variant: int = 0) -> bytes:
    """A small solid-colour PNG (Pillow is imported only when an image is asked for)."""
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (max(width, 1), max(height, 1)), (40 * variant % 256, 120, 200)).save(out, "PNG")
    return out.getvalue()


def image_error(status: int, message: str, code: str | None, param: str | None,
                retry_after: float | None = None) -> web.Response:
    """The images API's error body: type invalid_request_error, with the code and param set."""
    body = error_body(status, message)
    body["error"]["code"] = code if code is not None else body["error"]["code"]
    body["error"]["param"] = param
    headers = {"x-request-id": f"req_{uuid.uuid4().hex}"}
    if retry_after is not None:
        headers["retry-after"] = f"{retry_after:g}"
    return web.json_response(body, status=status, headers=headers)


class FakeOpenAI:
    """The fake server. Defaults (ttft, rate, tokens) apply when no scripted Behaviour is queued.

    `requests` logs every chat-completions request as {"body", "authorization", "time"}, with
    `time` from time.monotonic() in the server's process, taken on arrival.
    """

    def __init__(
        self, *, ttft: float = 0.0, rate: float = 0.0, tokens: int = 12,
        host: str = "127.0.0.1", port: int = 0,
        reasoning_models: tuple[str, ...] = (),
        reasoning_stream_models: tuple[str, ...] = ("deepseek-r1",),
    ) -> None:
        self.ttft, self.rate, self.tokens = ttft, rate, tokens
        # Names (e.g. Azure deployments) treated as OpenAI reasoning models besides the families;
        # and name prefixes that stream their reasoning as `reasoning_content`.
        self._default_reasoning_models = frozenset(reasoning_models)
        self.reasoning_models = set(reasoning_models)
        self.reasoning_stream_models = tuple(reasoning_stream_models)
        self.host, self.port = host, port
        self.requests: list[dict[str, Any]] = []
        # deque append/popleft are thread-safe: tests script from their thread, the loop pops.
        self._script: deque[Behaviour] = deque()
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.image_requests: list[dict[str, Any]] = []
        self.image_downloads: list[str] = []  # paths of /_fake/images/... and /_fake/redirect hits
        self._image_script: deque[Behaviour] = deque()

    def is_reasoning_model(self, model: str) -> bool:
        return model.startswith(REASONING_PREFIXES) or model in self.reasoning_models

    def streams_reasoning(self, model: str) -> bool:
        return model.startswith(self.reasoning_stream_models)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    # -- test-side controls ---------------------------------------------------------------
    def script(self, *behaviours: Behaviour) -> None:
        """Append behaviours to the FIFO queue; each chat-completions request consumes one."""
        self._script.extend(behaviours)

    def reset(self) -> None:
        self.reasoning_models = set(self._default_reasoning_models)
        self._script.clear()
        self.requests.clear()
        self._image_script.clear()
        self.image_requests.clear()
        self.image_downloads.clear()

    def script_images(self, *behaviours: Behaviour) -> None:
        """Like script(), for /v1/images/generations requests."""
        self._image_script.extend(behaviours)

    def configure(self, *, ttft: float | None = None, rate: float | None = None,
                  tokens: int | None = None) -> None:
        if ttft is not None:
            self.ttft = ttft
        if rate is not None:
            self.rate = rate
        if tokens is not None:
            self.tokens = tokens

    # -- lifecycle ------------------------------------------------------------------------
    async def start_async(self) -> None:
        """Bind and serve on the running loop (used by the thread and by the CLI)."""
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat_completions)
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/images/generations", self._images_generations)
        app.router.add_get("/_fake/images/{name}", self._image_file)
        app.router.add_get("/_fake/redirect", self._redirect)
        app.router.add_post("/_fake/script", self._ctl_script)
        app.router.add_post("/_fake/configure", self._ctl_configure)
        app.router.add_post("/_fake/reset", self._ctl_reset)
        app.router.add_get("/_fake/requests", self._ctl_requests)
        # handler_cancellation: a client that disconnects (timeout, hang) cancels its handler,
        # so abandoned streams stop costing anything. Short shutdown_timeout: stop() must not
        # wait for hanging or slow streams.
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True,
                                     shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=1024)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop_async(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def start(self) -> FakeOpenAI:
        """Serve from a daemon thread with its own event loop; returns once listening."""
        if self._thread is not None:
            raise RuntimeError("FakeOpenAI already started")
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = self._loop = asyncio.new_event_loop()
            try:
                loop.run_until_complete(self.start_async())
            except BaseException as exc:  # surfaced to the caller of start()
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-openai", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread = None
            raise failure[0]
        return self

    def stop(self) -> None:
        if self._thread is None or self._loop is None:
            return
        asyncio.run_coroutine_threadsafe(self.stop_async(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._thread = self._loop = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- OpenAI endpoints -----------------------------------------------------------------
    @staticmethod
    def _authorized(request: web.Request) -> bool:
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        return scheme == "Bearer" and bool(key.strip())

    async def _models(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return error_response(401, "Incorrect API key provided.")
        data = [{"id": m, "object": "model", "created": 1715367049, "owned_by": "openai"}
                for m in MODELS]
        return web.json_response({"object": "list", "data": data})

    async def _chat_completions(self, request: web.Request) -> web.StreamResponse:
        loop = asyncio.get_running_loop()
        start = loop.time()  # same clock as time.monotonic(); pacing is scheduled from here
        try:
            body: Any = await request.json()
        except ValueError:
            body = None
        self.requests.append({"body": body, "authorization": request.headers.get("Authorization"),
                              "time": start, "peer": request.transport.get_extra_info("peername")
                              if request.transport else None})
        if not self._authorized(request):
            return error_response(401, "Incorrect API key provided.")
        if not isinstance(body, dict) or "model" not in body or "messages" not in body:
            return error_response(400, "Request body must be JSON with 'model' and 'messages'.")

        model = str(body["model"])
        reasoning = self.is_reasoning_model(model)
        refused = model_refusal(body, reasoning)
        if refused is not None:
            return refused

        b = self._script.popleft() if self._script else Behaviour()
        if b.hang:
            await asyncio.Future()  # never resolves; cancelled when the client goes away
        if b.status != 200:
            return error_response(b.status, b.text or f"Fake error {b.status}", b.retry_after)

        ttft = self.ttft if b.ttft is None else b.ttft
        rate = self.rate if b.rate is None else b.rate
        messages = body["messages"] if isinstance(body["messages"], list) else []
        text = b.text if b.text is not None else default_reply(
            messages, self.tokens if b.tokens is None else b.tokens)
        tokens = split_tokens(text)
        finish = "stop"
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        if isinstance(limit, int) and len(tokens) > limit:  # like the real API: truncate
            tokens, finish = tokens[:limit], "length"
        usage: dict[str, Any] = {
            "prompt_tokens": sum(len(message_text(m).split()) for m in messages),
            "completion_tokens": len(tokens) + (REASONING_TOKENS if reasoning else 0)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        if reasoning:
            usage["completion_tokens_details"] = {"reasoning_tokens": REASONING_TOKENS}
        # A DeepSeek-R1-style server streams what the model thought before its answer.
        thoughts = (split_tokens(f"Thinking about: {message_text(messages[-1])}")
                    if self.streams_reasoning(model) and messages else [])

        async def until(i: int) -> None:
            """Sleep until token i is due: absolute schedule from `start`, so no drift."""
            delay = start + ttft + (i / rate if rate > 0 else 0.0) - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)

        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        headers = {"x-request-id": f"req_{uuid.uuid4().hex}"}

        if not body.get("stream"):
            await until(max(len(thoughts) + len(tokens) - 1, 0))
            if b.drop_after is not None:
                request.transport.close()  # type: ignore[union-attr]  # no response at all
                return web.Response()
            message = {"role": "assistant", "content": "".join(tokens), "refusal": None}
            if thoughts:
                message["reasoning_content"] = "".join(thoughts)
            return web.json_response({
                "id": completion_id, "object": "chat.completion", "created": created,
                "model": model, "usage": usage,
                "choices": [{"index": 0, "message": message, "finish_reason": finish,
                             "logprobs": None}],
            }, headers=headers)

        resp = web.StreamResponse(headers={**headers, "Content-Type": "text/event-stream",
                                           "Cache-Control": "no-cache"})
        await resp.prepare(request)  # headers go out now; the first chunk comes after ttft

        async def send(delta: dict[str, Any] | None, finish_reason: str | None = None,
                       final_usage: dict[str, Any] | None = None) -> None:
            chunk = {"id": completion_id, "object": "chat.completion.chunk", "created": created,
                     "model": model, "usage": final_usage,
                     "choices": [] if delta is None else [{
                         "index": 0, "delta": delta, "finish_reason": finish_reason,
                         "logprobs": None}]}
            await resp.write(f"data: {json.dumps(chunk, separators=(',', ':'))}\n\n".encode())

        try:
            await until(0)
            await send({"role": "assistant", "content": ""})
            # Thinking takes time like answering: one thought per token's slot.
            for i, thought in enumerate(thoughts):
                await until(i)
                await send({"reasoning_content": thought, "content": None})
            for i, token in enumerate(tokens):
                if b.drop_after is not None and i >= b.drop_after:
                    # Close the socket mid-body: the client sees an incomplete chunked response.
                    request.transport.close()  # type: ignore[union-attr]
                    return resp
                await until(len(thoughts) + i)
                await send({"content": token})
            await send({}, finish)
            if (body.get("stream_options") or {}).get("include_usage"):
                await send(None, final_usage=usage)
            await resp.write(b"data: [DONE]\n\n")
            await resp.write_eof()
        except ConnectionError:
            pass  # the client went away mid-stream
        return resp

    # -- images ---------------------------------------------------------------------------
    async def _images_generations(self, request: web.Request) -> web.Response:
        try:
            body: Any = await request.json()
        except ValueError:
            body = None
        self.image_requests.append({"body": body,
                                    "authorization": request.headers.get("Authorization")})
        if not self._authorized(request):
            return error_response(401, "Incorrect API key provided.")
        if not isinstance(body, dict) or not isinstance(body.get("prompt"), str):
            return image_error(400, "Missing required parameter: 'prompt'.", "missing_required_parameter", "prompt")
        model = body.get("model") or "dall-e-2"
        b = self._image_script.popleft() if self._image_script else Behaviour()
        if b.hang:
            await asyncio.Future()
        if b.ttft:
            await asyncio.sleep(b.ttft)  # images take a while: hold the answer this long
        if b.status != 200:
            return image_error(b.status, b.text or f"Fake error {b.status}", b.code, None,
                               b.retry_after)
        sizes = IMAGE_SIZES.get(model)
        if sizes is None:
            return image_error(404, f"The model '{model}' does not exist.", "model_not_found", "model")
        size = body.get("size") or sizes[0]
        if size not in sizes:
            supported = ", ".join(f"'{x}'" for x in sizes)
            return image_error(400, f"Invalid value: '{size}'. Supported values are: {supported}.",
                               "invalid_value", "size")
        if model.startswith("gpt-image") and "response_format" in body:
            return image_error(400, "Unknown parameter: 'response_format'.", "unknown_parameter",
                               "response_format")
        n = body.get("n") or 1
        if model == "dall-e-3" and n != 1:
            return image_error(400, "You must provide n=1 for this model.", "invalid_value", "n")
        width, height = (int(x) for x in (size if size != "auto" else "1024x1024").split("x"))
        wants_url = body.get("response_format") == "url"
        data = []
        for i in range(n):
            item: dict[str, Any] = {}
            if b.image_url is not None:
                item["url"] = b.image_url
            elif b.image_b64 is not None:
                item["b64_json"] = b.image_b64
            elif wants_url:
                item["url"] = f"http://{self.host}:{self.port}/_fake/images/{width}x{height}-{i}.png"
            else:
                item["b64_json"] = base64.b64encode(fake_png(width // 8, height // 8, i)).decode()
            if model == "dall-e-3":
                item["revised_prompt"] = f"A detailed picture of {body['prompt']}"
            data.append(item)
        answer: dict[str, Any] = {"created": int(time.time()), "data": data}
        if model.startswith("gpt-image"):
            answer["usage"] = {"input_tokens": 10, "output_tokens": 4160, "total_tokens": 4170,
                               "input_tokens_details": {"text_tokens": 10, "image_tokens": 0}}
        return web.json_response(answer, headers={"x-request-id": f"req_{uuid.uuid4().hex}"})

    async def _image_file(self, request: web.Request) -> web.Response:
        self.image_downloads.append(request.path_qs)
        name = request.match_info["name"]
        match = re.fullmatch(r"(\d+)x(\d+)-(\d+)\.png", name)
        if not match:
            return web.Response(status=404)
        width, height, i = (int(g) for g in match.groups())
        return web.Response(body=fake_png(width // 8, height // 8, i), content_type="image/png")

    async def _redirect(self, request: web.Request) -> web.Response:
        self.image_downloads.append(request.path_qs)
        raise web.HTTPFound(request.query.get("to", "/"))

    # -- control endpoints (for tests that run the fake in another process) ---------------
    async def _ctl_script(self, request: web.Request) -> web.Response:
        items = await request.json()
        names = {f.name for f in fields(Behaviour)}
        if not isinstance(items, list) or not all(
                isinstance(i, dict) and i.keys() <= names for i in items):
            message = f"expected a list of objects with keys from {sorted(names)}"
            return web.json_response({"error": message}, status=400)
        self.script(*(Behaviour(**i) for i in items))
        return web.json_response({"queued": len(self._script)})

    async def _ctl_configure(self, request: web.Request) -> web.Response:
        data = await request.json()
        self.configure(**{k: data[k] for k in ("ttft", "rate", "tokens") if k in data})
        return web.json_response({"ttft": self.ttft, "rate": self.rate, "tokens": self.tokens})

    async def _ctl_reset(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"ok": True})

    async def _ctl_requests(self, request: web.Request) -> web.Response:
        return web.json_response(self.requests)


async def _serve_forever(fake: FakeOpenAI) -> None:
    await fake.start_async()
    print(f"listening on {fake.url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await fake.stop_async()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake OpenAI Chat Completions server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--ttft", type=float, default=0.0, help="seconds to first token")
    parser.add_argument("--rate", type=float, default=0.0, help="tokens/s, 0 = unpaced")
    parser.add_argument("--tokens", type=int, default=12, help="tokens in the default reply")
    args = parser.parse_args(argv)
    asyncio.run(_serve_forever(FakeOpenAI(ttft=args.ttft, rate=args.rate, tokens=args.tokens,
                                          host=args.host, port=args.port)))


if __name__ == "__main__":
    main()
