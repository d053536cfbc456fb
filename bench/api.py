#!/usr/bin/env python
"""How much does Chatlab add to a model's own streaming on the API paths? (bench/README.md)

The same bench as bench/stream.py (same stack, same fake upstream, same interleaved rounds,
same meters), for the two doors programs use instead of the WebSocket:

- `sse`: the REST API with a personal API token. Before a round (not timed) each chat makes a
  conversation (`POST /api/v1/conversations/`); the clock starts at
  `POST /api/v1/conversations/{id}/messages/`, whose 202 names the reply's `stream_url`; the
  client then follows `GET /api/v1/messages/{reply}/stream/` (server-sent events: `snapshot`,
  `delta`s, `done`). Time to first token is the first event carrying reply text.
- `v1`: the OpenAI-compatible endpoint, `POST /v1/chat/completions` with `stream: true`, driven by
  the official `openai.AsyncOpenAI` client (base_url daphne's /v1, the API token as api_key),
  exactly as the direct side drives the fake upstream.

    .venv/bin/python bench/api.py --chats 50 --rounds 3 --tokens 200 --path both --json

The last line with --json is one JSON object: the SSE path's keys unprefixed, the /v1 path's
prefixed `v1_`. The run stops by itself; every process and the database it made are removed on
exit, Ctrl-C included.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import signal
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import openai  # noqa: E402

from bench.stream import (  # noqa: E402
    GOALS,
    MAX_OUTPUT_TOKENS,
    MODEL,
    TABLE,
    TEMPERATURE,
    Bench,
    Phase,
    RoundResult,
    Stream,
    _fmt,
    _limits,
    _mean,
    _ms,
    _pct,
    _ratio,
    _round,
    clock,
    log,
)

BOT = "bench"  # the Bot's slug: the /v1 model name and the conversation's bot
PREFIXES = {"sse": "", "v1": "v1_"}

# The WebSocket byte goal, applied to the HTTP body of the stream.
API_GOALS: dict[str, tuple[str, float]] = {
    **{k: v for k, v in GOALS.items() if not k.startswith("ws_")},
    "http_bytes_per_reply_byte": GOALS["ws_bytes_per_reply_byte"],
}
API_TABLE: list[tuple[str, str]] = [
    *[(k, label) for k, label in TABLE if not k.startswith("ws_")
      and k not in ("db_writes_per_reply", "errors")],
    ("post_ms_p50", "send -> 202 p50 (ms)"),
    ("headers_ms_p50", "send -> stream headers p50 (ms)"),
    ("headers_ms_p95", "send -> stream headers p95 (ms)"),
    ("late_attach", "streams attached late"),
    ("events_per_reply", "SSE events / reply"),
    ("http_bytes_per_reply_byte", "HTTP bytes / reply byte"),
    ("direct_http_bytes_per_reply_byte", "direct HTTP bytes / reply byte"),
    ("db_writes_per_reply", "DB writes / reply"), ("errors", "errors"),
]


# --------------------------------------------------------------------------------------------
# One stream as an API client saw it
# --------------------------------------------------------------------------------------------

@dataclass
class ApiStream(Stream):
    http_bytes: int = 0  # body bytes of the streamed response (as received, before decoding)
    send_bytes: int = 0  # body of the 202 answering the send (SSE path)
    events: int = 0  # server-sent events (SSE: snapshot/delta/done; /v1: chunks)
    t_posted: float | None = None  # the 202 arrived (SSE path)
    t_headers: float | None = None  # the stream's response headers arrived
    late: bool = False  # the first text came in the snapshot: the stream attached after it began


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def sse_chat(http: httpx.AsyncClient, base: str, token: str, conversation: str,
                   s: ApiStream) -> None:
    body = {"content": s.content, "client_id": str(uuid.uuid4())}
    s.t0 = clock()
    sent = await http.post(f"{base}/api/v1/conversations/{conversation}/messages/", json=body,
                           headers=auth(token))
    s.t_posted = clock()
    s.send_bytes = sent.num_bytes_downloaded
    if sent.status_code != 202:
        s.fail(f"send answered {sent.status_code}: {sent.text[:200]}")
        return
    async with http.stream("GET", base + sent.json()["stream_url"], headers=auth(token)) as r:
        s.t_headers = clock()
        if r.status_code != 200:
            await r.aread()
            s.fail(f"stream answered {r.status_code}: {r.text[:200]}")
            return
        try:
            await read_sse(r, s)
        finally:
            s.http_bytes = r.num_bytes_downloaded


async def read_sse(r: httpx.Response, s: ApiStream) -> None:
    """Reads one reply's events: `snapshot` (text so far), `delta`s in sequence, then `done`."""
    buffer = b""
    seq: int | None = None
    done = False
    async for data in r.aiter_bytes():
        at = clock()
        buffer += data
        while b"\n\n" in buffer:
            raw, buffer = buffer.split(b"\n\n", 1)
            kind, payload = "message", []
            for line in raw.decode().split("\n"):
                if line.startswith("event:"):
                    kind = line[6:].strip()
                elif line.startswith("data:"):
                    payload.append(line[5:].removeprefix(" "))
            if not payload:  # a comment (": still writing")
                continue
            s.events += 1
            event = json.loads("\n".join(payload))
            if done:
                s.fail(f"{kind!r} event after done")
            elif kind == "snapshot":
                if seq is not None:
                    s.fail(f"second snapshot after seq {seq}: deltas were lost")
                seq = event["seq"]
                if event["content"]:
                    s.late = True
                    s.add(at, event["content"])
            elif kind == "delta":
                if seq is None:
                    s.fail("delta before snapshot")
                    seq = event["seq"] - 1
                if event["seq"] != seq + 1:
                    s.fail(f"sequence gap: got {event['seq']}, expected {seq + 1}")
                seq = event["seq"]
                s.add(at, event["text"])
            elif kind == "done":
                # Read on to the end of the response, as an SSE client does: leaving at `done`
                # races the server's own clean-up (see bench/README.md, the SSE path).
                done = True
                s.t_end = at
                if event.get("status") != "complete":
                    s.fail(f"reply {event.get('status')}: {event.get('error')}")
            else:
                s.fail(f"unexpected {kind!r} event")
    if not done:
        s.fail("stream closed before done")


async def openai_chat(client: openai.AsyncOpenAI, s: ApiStream, model: str) -> None:
    """stream.direct_chat's request, also counting the body bytes and checking the ending: to
    Chatlab's /v1 (the bot's slug as model) or, for the direct rounds, to the upstream."""
    s.t0 = clock()
    stream = await client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": s.content}], temperature=TEMPERATURE,
        max_tokens=MAX_OUTPUT_TOKENS, stream=True, stream_options={"include_usage": True},
    )
    s.t_headers = clock()
    finish = None
    usage = None
    try:
        async with stream:
            async for chunk in stream:
                at = clock()
                s.events += 1
                usage = chunk.usage or usage
                for choice in chunk.choices:
                    if choice.delta and choice.delta.content:
                        s.add(at, choice.delta.content)
                    finish = choice.finish_reason or finish
    finally:
        s.http_bytes = stream.response.num_bytes_downloaded
    s.t_end = clock()
    if finish != "stop":
        s.fail(f"finish_reason {finish!r}")
    elif usage is None or not usage.completion_tokens:
        s.fail("no usage chunk")


# --------------------------------------------------------------------------------------------
# The bench: stream.Bench with the API paths
# --------------------------------------------------------------------------------------------

class ApiBench(Bench):
    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__(args)
        self.api_tokens: list[str] = []  # one personal API token per chat (per user)
        self.http: httpx.AsyncClient | None = None
        self.v1_clients: list[openai.AsyncOpenAI] = []

    @property
    def paths(self) -> list[str]:
        return ["sse", "v1"] if self.args.path == "both" else [self.args.path]

    def _fixtures(self) -> None:
        super()._fixtures()  # Provider and Bot on the upstream, one user per chat
        from django.db import connection

        from accounts.models import User
        from accounts.services.tokens import api_token_create

        users = User.objects.in_bulk(self.user_ids)
        self.api_tokens = [api_token_create(user=users[uid], name="bench")[1]
                           for uid in self.user_ids]
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_force_next_flush()")
        connection.close()

    def streams_for(self, label: str, tokens: int) -> list[Stream]:
        return [ApiStream(s.chat, s.content, s.expected)
                for s in super().streams_for(label, tokens)]

    def base(self, chat: int) -> str:
        return self.web_urls[chat % len(self.web_urls)]

    async def stack_round(self, path: str, label: str, tokens: int, index: int) -> RoundResult:
        if path == "sse":
            return await self.sse_round(label, tokens)
        return await self.v1_round(label, tokens)

    async def sse_round(self, label: str, tokens: int) -> RoundResult:
        http = self.http
        assert http is not None

        async def conversation(chat: int) -> str:
            r = await http.post(f"{self.base(chat)}/api/v1/conversations/", json={"bot": BOT},
                                headers=auth(self.api_tokens[chat]))
            r.raise_for_status()
            return r.json()["id"]

        conversations = await asyncio.gather(*(conversation(i) for i in range(self.args.chats)))
        return await self.run_round(
            label, self.streams_for(label, tokens),
            lambda s: sse_chat(http, self.base(s.chat), self.api_tokens[s.chat],
                               conversations[s.chat], s),  # type: ignore[arg-type]
            tokens=tokens, stack_round=True)

    async def v1_round(self, label: str, tokens: int) -> RoundResult:
        clients = self.v1_clients
        return await self.run_round(
            label, self.streams_for(label, tokens),
            lambda s: openai_chat(clients[s.chat], s, BOT),  # type: ignore[arg-type]
            tokens=tokens, stack_round=True)

    async def direct_round(self, label: str, tokens: int) -> RoundResult:
        """stream.py's direct round, with the body bytes counted (what the upstream sends)."""
        client = self.client
        assert client is not None
        return await self.run_round(
            label, self.streams_for(label, tokens),
            lambda s: openai_chat(client, s, MODEL),  # type: ignore[arg-type]
            tokens=tokens, stack_round=False)

    async def run(self) -> dict[str, Any]:
        timeout = httpx.Timeout(60, connect=10)
        self.http = httpx.AsyncClient(timeout=timeout, limits=httpx.Limits(
            max_connections=1000, max_keepalive_connections=200, keepalive_expiry=30))
        # One pool per daphne, shared by every chat's client (with_options keeps the pool).
        pools = {url: openai.AsyncOpenAI(
            api_key="unused", base_url=f"{url}/v1", max_retries=0,
            timeout=openai.Timeout(60, connect=10),
            http_client=openai.DefaultAsyncHttpxClient(limits=_limits()))
            for url in self.web_urls}
        self.v1_clients = [pools[self.base(i)].with_options(api_key=token)
                           for i, token in enumerate(self.api_tokens)]
        try:
            return await super().run()
        finally:
            await self.http.aclose()
            for pool in pools.values():
                await pool.close()

    # -- figures -------------------------------------------------------------------------------
    def report(self, phases: list[Phase]) -> dict[str, Any]:
        out = super().report([])  # run parameters, memory, machine
        out["path"] = self.args.path
        for phase in phases:
            out.update({PREFIXES[phase.path] + k: v
                        for k, v in self.phase_figures(phase).items()})
        return out

    def phase_figures(self, phase: Phase) -> dict[str, Any]:
        figures = {k: v for k, v in super().phase_figures(phase).items()
                   if not k.startswith("ws_")}
        ok = [s for r in phase.stack for s in r.streams if s.ok]
        assert all(isinstance(s, ApiStream) for s in ok)
        api: list[ApiStream] = ok  # type: ignore[assignment]
        reply_bytes = sum(len(s.expected.encode()) for s in api)
        posted = [s.t_posted - s.t0 for s in api if s.t_posted is not None]
        headers = [s.t_headers - s.t0 for s in api if s.t_headers is not None]
        direct: list[ApiStream] = [s for r in phase.direct for s in r.streams  # type: ignore[misc]
                                   if s.ok]
        figures.update({
            "http_bytes_per_reply_byte": _ratio(sum(s.http_bytes for s in api), reply_bytes),
            "direct_http_bytes_per_reply_byte": _ratio(
                sum(s.http_bytes for s in direct), sum(len(s.expected.encode()) for s in direct)),
            "http_exchange_bytes_per_reply_byte": _ratio(
                sum(s.http_bytes + s.send_bytes for s in api), reply_bytes),
            "events_per_reply": _round(_mean([s.events for s in api]), 1),
            "post_ms_p50": _ms(_pct(posted, 50)), "post_ms_p95": _ms(_pct(posted, 95)),
            "headers_ms_p50": _ms(_pct(headers, 50)), "headers_ms_p95": _ms(_pct(headers, 95)),
            "late_attach": sum(s.late for s in api),
        })
        return figures


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------

def render(result: dict[str, Any]) -> str:
    paths = [(name, p) for name, p in PREFIXES.items() if f"{p}errors" in result]
    head = (f"chats={result['chats']} rounds={result['rounds']} tokens={result['tokens']} "
            f"upstream ttft={result['upstream_ttft_ms']} ms "
            f"rate={result['upstream_tokens_per_s']}/s")
    lines = [head, f"{'metric':<32}" + "".join(f"{name:>12}" for name, _ in paths)
             + "   goal (50 chats)"]
    for key, label in API_TABLE:
        goal = API_GOALS.get(key)
        row = f"{label:<32}"
        for _, p in paths:
            value = result.get(p + key)
            mark = ""
            if goal is not None and value is not None and not (isinstance(value, float)
                                                               and math.isnan(value)):
                met = value <= goal[1] if goal[0] == "<=" else value == goal[1]
                mark = " " if met else "!"
            row += f"{_fmt(value):>11}{mark or ' '}"
        lines.append(row + (f"   {goal[0]} {goal[1]:g}" if goal else ""))
    lines += ["", "CPU seconds per round (stack round | direct round)",
              f"{'process':<14}" + "".join(f"{name:>20}" for name, _ in paths)]
    procs = sorted({k for _, p in paths for k in result[p + "cpu_s_per_round"]})
    for proc in procs:
        row = f"{proc:<14}"
        for _, p in paths:
            row += (f"{result[p + 'cpu_s_per_round'].get(proc, 0.0):>12.2f} |"
                    f"{result[p + 'direct_cpu_s_per_round'].get(proc, 0.0):>6.2f}")
        lines.append(row)
    for name, p in paths:
        if result.get(p + "error_samples"):
            lines.append(f"{name} errors: " + "; ".join(result[p + "error_samples"]))
        for proc, prof in (result.get(p + "profile") or {}).items():
            lines.append(f"py-spy {name} path, {proc}: {prof.get('samples')} samples")
            for cat, pct in list(prof.get("self_pct_by_category", {}).items())[:8]:
                lines.append(f"    {pct:5.1f} %  {cat}")
            for fn, pct in list(prof.get("self_pct_top_functions", {}).items())[:8]:
                lines.append(f"    {pct:5.1f} %  {fn}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--chats", type=int, default=50, help="concurrent chats per round")
    p.add_argument("--rounds", type=int, default=3, help="measured rounds per path (each "
                   "paired with a direct round)")
    p.add_argument("--tokens", type=int, default=200, help="tokens per reply")
    p.add_argument("--path", choices=("sse", "v1", "both"), default="both")
    p.add_argument("--ttft", type=float, default=0.3, help="upstream seconds to first token")
    p.add_argument("--rate", type=float, default=50, help="upstream tokens per second")
    p.add_argument("--webs", type=int, default=1,
                   help="daphne processes; chats are spread over them round-robin")
    p.add_argument("--warmup", action=argparse.BooleanOptionalAction, default=True,
                   help="an unmeasured warm-up round of each path first")
    p.add_argument("--settle", type=float, default=10.5,
                   help="seconds after the stack's last write before reading PostgreSQL's "
                        "table statistics (an idle backend publishes within 10 s)")
    p.add_argument("--quiet-timeout", type=float, default=0,
                   help="before each round, wait up to this many seconds for other processes "
                        "on the machine to calm down (0: do not wait)")
    p.add_argument("--quiet-cores", type=float, default=0.25,
                   help="what --quiet-timeout calls calm: CPU used by processes not ours")
    p.add_argument("--profile", metavar="DIR",
                   help="record daphne with py-spy during each phase (pip install py-spy)")
    p.add_argument("--keep-logs", action="store_true", help="keep the processes' logs")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = p.parse_args(argv)
    if min(args.chats, args.rounds, args.tokens, args.webs) < 1:
        p.error("--chats, --rounds, --tokens and --webs must be at least 1")
    # What stream.Bench reads and these paths do not use: no Celery worker.
    args.workers, args.concurrency = 1, 0
    return args


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    bench = ApiBench(args)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        bench.start()
        try:
            import uvloop

            loop_factory = uvloop.new_event_loop
        except ImportError:  # pragma: no cover
            loop_factory = None
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            result = runner.run(bench.run())
    except (KeyboardInterrupt, asyncio.CancelledError):
        log("interrupted: cleaning up")
        return 130
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second TERM must not cut the clean-up
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        bench.close()
    print(render(result))
    if args.json:
        print(json.dumps(result, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
