#!/usr/bin/env python
"""How much does Chatlab's streaming pipeline add to a model's own streaming? (bench/README.md)

Starts the production stack on this machine (daphne on uvloop, Celery `chat` worker, Redis
channel layer and broker, PostgreSQL) against a fake upstream that speaks the OpenAI wire format
(300 ms to first token, 50 tokens/s by default), then runs N concurrent chats in rounds:

    direct round 1, stack round 1, direct round 2, stack round 2, ...

A direct round sends the same requests straight to the upstream with the official AsyncOpenAI
client; a stack round sends them through a WebSocket (`web` path: the reply runs on daphne's
loop) or enqueues them on Celery (`celery` path: `generate_reply` on the worker's shared loop,
frames through the channel-layer group). Every token is timestamped on arrival in this process,
on one clock (time.monotonic, which the fake upstream's log also uses).

    .venv/bin/python bench/stream.py --chats 50 --rounds 3 --tokens 200 --path both --json

The last line with --json is one JSON object: web path keys unprefixed, Celery path keys
prefixed `celery_`. The run stops by itself; every process and the database it made are
removed on exit, Ctrl-C included.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import openai  # noqa: E402
from websockets.asyncio.client import ClientConnection, connect  # noqa: E402

from bench._stack import BenchStack  # noqa: E402
from tests.fakes.openai_server import default_reply, split_tokens  # noqa: E402

clock = time.monotonic  # system-wide CLOCK_MONOTONIC: comparable with the fake's request log
MODEL = "gpt-4o-mini"
MAX_OUTPUT_TOKENS = 8000
TEMPERATURE = 0.7  # the Bot's default, so direct and stack requests are the same
WARMUP_TOKENS = 5

# Goals at 50 chats (the issue); printed beside the figures, never enforced here.
GOALS: dict[str, tuple[str, float]] = {
    "ttft_ratio_p50": ("<=", 1.10),
    "ttft_ratio_p95": ("<=", 1.25),
    "batch_wall_ratio": ("<=", 1.05),
    "frame_gap_p99_ms": ("<=", 100.0),  # coalescing window (50 ms) + 50 ms
    "ws_bytes_per_reply_byte": ("<=", 3.0),
    "redis_commands_per_token": ("<=", 0.5),
    "db_writes_per_reply": ("<=", 5.0),
    "errors": ("==", 0),
}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# One stream as the client saw it
# --------------------------------------------------------------------------------------------

@dataclass
class Stream:
    chat: int
    content: str  # what the user sent
    expected: str  # the reply the fake upstream writes for it
    t0: float = 0.0  # send (web), enqueue (celery) or request (direct)
    frames: list[tuple[float, int]] = field(default_factory=list)  # (arrival, tokens in it)
    text: list[str] = field(default_factory=list)
    t_end: float = 0.0  # `done` frame, or the end of the direct stream
    ws_bytes: int = 0  # every WebSocket frame for this exchange, payload + frame header
    ws_delta_bytes: int = 0
    ws_frames: int = 0
    upstream_at: float | None = None  # when the upstream received the request (its log)
    error: str | None = None

    def add(self, at: float, text: str) -> None:
        self.frames.append((at, len(split_tokens(text))))
        self.text.append(text)

    def fail(self, why: str) -> None:
        if self.error is None:
            self.error = why

    def check(self) -> None:
        """A stream counts only if it delivered exactly the upstream's reply."""
        if self.error is None and "".join(self.text) != self.expected:
            got = "".join(self.text)
            self.fail(f"text differs ({len(got)} chars, expected {len(self.expected)})")
        if self.error is None and not self.frames:
            self.fail("no delta")

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def ttft(self) -> float:
        return self.frames[0][0] - self.t0

    @property
    def tokens(self) -> int:
        return sum(n for _, n in self.frames)

    def gaps(self) -> list[float]:
        return [b[0] - a[0] for a, b in zip(self.frames, self.frames[1:], strict=False)]

    def rate(self) -> float | None:
        """Tokens per second after the first frame."""
        if len(self.frames) < 2:
            return None
        span = self.frames[-1][0] - self.frames[0][0]
        return (self.tokens - self.frames[0][1]) / span if span > 0 else None


def ws_frame_size(payload: str | bytes) -> int:
    """Bytes on the wire for one unmasked server frame (no compression is negotiated)."""
    n = len(payload.encode()) if isinstance(payload, str) else len(payload)
    return n + (2 if n < 126 else 4 if n < 65536 else 10)


# --------------------------------------------------------------------------------------------
# The three ways a round's chats run
# --------------------------------------------------------------------------------------------

async def direct_chat(client: openai.AsyncOpenAI, s: Stream) -> None:
    s.t0 = clock()
    stream = await client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": s.content}], temperature=TEMPERATURE,
        max_tokens=MAX_OUTPUT_TOKENS, stream=True, stream_options={"include_usage": True},
    )
    async with stream:
        async for chunk in stream:
            at = clock()
            for choice in chunk.choices:
                if choice.delta and choice.delta.content:
                    s.add(at, choice.delta.content)
    s.t_end = clock()


async def read_reply(ws: ClientConnection, s: Stream, *, expect_sent: bool) -> None:
    """Reads one reply's frames: deltas [k, n, text] in sequence, then `done`."""
    key: int | None = None
    seq = 0
    async for raw in ws:
        at = clock()
        size = ws_frame_size(raw)
        s.ws_bytes += size
        s.ws_frames += 1
        frame = json.loads(raw)
        if isinstance(frame, list):  # a delta: [stream key, sequence number, text]
            s.ws_delta_bytes += size
            if key is None:
                key = frame[0]
            if frame[0] != key:
                s.fail(f"delta for stream {frame[0]}, expected {key}")
            seq += 1
            if frame[1] != seq:
                s.fail(f"sequence gap: got {frame[1]}, expected {seq}")
            s.add(at, frame[2])
            continue
        kind = frame.get("type")
        if kind == "done":
            s.t_end = at
            status = frame.get("status", "complete")
            if status != "complete":
                s.fail(f"reply {status}: {frame.get('error')}")
            if frame.get("n") != seq:
                s.fail(f"done at {frame.get('n')} after {seq} deltas")
            return
        elif kind == "error":
            s.fail(f"error frame {frame.get('code')}: {frame.get('message')}")
            return
        elif kind == "sent" and expect_sent:
            key = frame["k"]
        elif kind != "conversation":
            s.fail(f"unexpected {kind!r} frame")
    s.fail("socket closed before done")


async def web_chat(ws: ClientConnection, s: Stream) -> None:
    frame = {"type": "send", "content": s.content, "bot": "bench", "client_id": str(uuid.uuid4())}
    s.t0 = clock()
    await ws.send(json.dumps(frame))
    await read_reply(ws, s, expect_sent=True)


async def open_socket(url: str, session: str) -> ClientConnection:
    origin = url.replace("ws://", "http://").split("/ws/")[0]  # the page's own origin
    return await connect(url, origin=origin,  # type: ignore[arg-type]
                         additional_headers={"Cookie": f"sessionid={session}"},
                         compression=None, proxy=None, ping_interval=None, max_size=None,
                         open_timeout=60)


# --------------------------------------------------------------------------------------------
# The bench
# --------------------------------------------------------------------------------------------

@dataclass
class RoundResult:
    streams: list[Stream]
    wall: float
    cpu: dict[str, float]
    redis: Counter[str] = field(default_factory=Counter)


@dataclass
class Phase:
    path: str  # "web" or "celery"
    direct: list[RoundResult] = field(default_factory=list)
    stack: list[RoundResult] = field(default_factory=list)
    warmup_errors: list[str] = field(default_factory=list)
    db_before: dict[str, int] = field(default_factory=dict)
    db_after: dict[str, int] = field(default_factory=dict)
    log_errors: list[str] = field(default_factory=list)
    profile: dict[str, str] = field(default_factory=dict)


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.stack = BenchStack(workers=args.workers,
                                worker_concurrency=args.concurrency or max(100, args.chats),
                                keep_logs=args.keep_logs)
        # The bench's own ORM work runs on one thread: one database connection, whose pending
        # statistics we can flush before reading pg_stat_user_tables.
        self.db = ThreadPoolExecutor(1, thread_name_prefix="bench-db")
        self.web_urls: list[str] = []  # one per daphne; chat i uses web_urls[i % len]
        self.upstream = ""
        self.sessions: list[str] = []
        self.user_ids: list[int] = []
        self.conversations: list[list[str]] = []  # celery path: [round][chat]
        self.quiet_at = 0.0  # when the stack's table statistics will have been published
        self.log_offsets: dict[str, int] = {}
        self.client: openai.AsyncOpenAI | None = None

    # -- set-up ------------------------------------------------------------------------------
    def start(self) -> None:
        a = self.args
        s = self.stack
        t = clock()
        s.provision()
        # The processes start (imports take seconds) while this process migrates the database:
        # none of them touches it before its first request.
        self.upstream = s.start_upstream(ttft=a.ttft, rate=a.rate, tokens=a.tokens)
        self.web_urls = [s.start_daphne("daphne" if i == 0 else f"daphne{i + 1}")
                         for i in range(a.webs)]
        if "celery" in self.paths:
            s.start_workers()
        log(f"database {s.database}, redis {s.env['REDIS_URL']}, upstream {self.upstream}")
        s.setup_django()
        self._fixtures()
        s.wait_ready(self.web_urls)
        log(f"stack up in {clock() - t:.1f} s: daphne {' '.join(self.web_urls)}, "
            f"{a.workers if 'celery' in self.paths else 0} worker(s)")

    @property
    def paths(self) -> list[str]:
        return ["web", "celery"] if self.args.path == "both" else [self.args.path]

    def _fixtures(self) -> None:
        """Provider and Bot on the fake upstream; one user and session per chat; the Celery
        path's conversations (it starts from a conversation, as a messenger does)."""
        from importlib import import_module

        from django.conf import settings

        from accounts.models import User
        from conversations.models import Bot, Conversation, Provider

        provider = Provider.objects.create(
            name="Bench upstream", kind=Provider.Kind.OPENAI, base_url=self.upstream,
            api_key="sk-bench", timeout=30, max_retries=0)
        bot = Bot.objects.create(
            slug="bench", name="Bench", provider=provider, model=MODEL,
            max_output_tokens=MAX_OUTPUT_TOKENS, context_window=32000, system_prompt="")
        users = []
        for i in range(self.args.chats):
            user = User(email=f"bench{i}@example.com")
            user.set_unusable_password()  # no password hashing: 100 users in no time
            users.append(user)
        users = User.objects.bulk_create(users)
        store = import_module(settings.SESSION_ENGINE).SessionStore
        for user in users:
            session = store()
            session["_auth_user_id"] = str(user.pk)
            session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
            session["_auth_user_hash"] = user.get_session_auth_hash()
            session.create()
            self.sessions.append(session.session_key)
        self.user_ids = [u.pk for u in users]
        if "celery" in self.paths:
            rounds = self.args.rounds + 1  # + the warm-up round
            convs = Conversation.objects.bulk_create(
                Conversation(owner=u, bot=bot, title=f"bench {r}")
                for r in range(rounds) for u in users)
            ids = [str(c.pk) for c in convs]
            n = len(users)
            self.conversations = [ids[r * n:(r + 1) * n] for r in range(rounds)]
        # Publish these rows' counts now and let go of this thread's connection, so that the
        # first database snapshot does not count the fixtures as the stack's writes.
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_force_next_flush()")
        connection.close()

    def close(self) -> None:
        """Stops every process and drops the database, whatever state the run is in."""
        def disconnect() -> None:
            from django.db import connections

            connections.close_all()

        if "django" in sys.modules:
            try:
                self.db.submit(disconnect).result(timeout=10)
            except Exception:  # noqa: BLE001 - the database is dropped WITH (FORCE) anyway
                pass
        self.db.shutdown(wait=False, cancel_futures=True)
        if self.args.keep_logs:
            log(f"logs kept in {self.stack.workdir}")
        self.stack.close()

    # -- helpers -----------------------------------------------------------------------------
    async def in_db(self, fn: Callable[[], Any]) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.db, fn)

    def upstream_control(self, action: str, body: dict[str, Any] | None = None) -> Any:
        base = self.upstream.removesuffix("/v1")
        if action == "requests":
            return httpx.get(f"{base}/_fake/requests", timeout=10).json()
        return httpx.post(f"{base}/_fake/{action}", json=body or {}, timeout=10).json()

    def streams_for(self, label: str, tokens: int) -> list[Stream]:
        out = []
        for i in range(self.args.chats):
            content = f"bench {label} chat {i}: hello"
            out.append(Stream(i, content, default_reply([{"role": "user", "content": content}],
                                                         tokens)))
        return out

    def round_timeout(self, tokens: int) -> float:
        return 60 + 3 * (self.args.ttft + tokens / max(self.args.rate, 1))

    async def wait_for_quiet(self, label: str) -> None:
        """On a shared machine: waits (bounded by --quiet-timeout) until processes other than
        this bench's use less than --quiet-cores, so that they do not skew a round."""
        limit = self.args.quiet_timeout
        if limit <= 0:
            return
        deadline = clock() + limit
        while True:
            a = self.stack.cpu_sample()
            await asyncio.sleep(0.5)
            b = self.stack.cpu_sample()
            busy = self.stack.cpu_delta(a, b)["other"] / (b.at - a.at)
            if busy < self.args.quiet_cores:
                return
            if clock() > deadline:
                log(f"{label}: other processes still use {busy:.2f} cores; going on")
                return
            await asyncio.sleep(1)

    async def quiet(self) -> None:
        """Waits until PostgreSQL has published every table count the stack wrote."""
        delay = self.quiet_at - clock()
        if delay > 0:
            log(f"waiting {delay:.1f} s for PostgreSQL's table statistics")
            await asyncio.sleep(delay)

    async def db_snapshot(self) -> dict[str, int]:
        await self.quiet()

        def flush_own() -> None:
            from django.db import connection

            with connection.cursor() as cursor:  # our own pending counts, published now
                cursor.execute("SELECT pg_stat_force_next_flush()")
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")

        await self.in_db(flush_own)
        return self.stack.db_writes()

    # -- rounds ------------------------------------------------------------------------------
    async def run_round(self, label: str, streams: list[Stream],
                        start: Callable[[Stream], Awaitable[None]], *, tokens: int,
                        stack_round: bool,
                        kickoff: Callable[[], Awaitable[None]] | None = None) -> RoundResult:
        """Runs one coroutine per chat, all at once, bounded in time; meters around them.
        `kickoff` (the Celery path's enqueuing) starts once every chat is listening."""
        await self.wait_for_quiet(label)
        self.upstream_control("reset")
        redis_before = self.stack.redis_commands()
        cpu_before = self.stack.cpu_sample()

        async def guarded(s: Stream) -> None:
            try:
                await start(s)
            except asyncio.CancelledError:
                s.fail("timed out")
                raise
            except Exception as exc:  # noqa: BLE001 - every failure is counted, not raised
                s.fail(f"{type(exc).__name__}: {exc}"[:300])

        tasks = [asyncio.create_task(guarded(s)) for s in streams]
        if kickoff is not None:
            await asyncio.sleep(0)  # every reader is at its first receive
            try:
                await kickoff()
            except Exception as exc:  # noqa: BLE001
                for s in streams:
                    s.fail(f"kickoff failed: {type(exc).__name__}: {exc}"[:300])
        done, pending = await asyncio.wait(tasks, timeout=self.round_timeout(tokens))
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=10)
        cpu_after = self.stack.cpu_sample()
        redis_after = self.stack.redis_commands()
        if stack_round:
            self.quiet_at = clock() + self.args.settle
        for s in streams:
            s.check()
        self._match_upstream(streams)
        ok = [s for s in streams if s.ok]
        wall = (max(s.t_end for s in ok) - min(s.t0 for s in ok)) if ok else 0.0
        redis = Counter({k: v - redis_before.get(k, 0) for k, v in redis_after.items()
                         if v - redis_before.get(k, 0) > 0})
        errors = [s for s in streams if not s.ok]
        log(f"{label}: {len(ok)}/{len(streams)} ok, wall {wall:.2f} s"
            + (f", first error: {errors[0].error}" if errors else ""))
        return RoundResult(streams, wall, self.stack.cpu_delta(cpu_before, cpu_after), redis)

    def _match_upstream(self, streams: list[Stream]) -> None:
        """When each request reached the upstream, from its own log (same monotonic clock)."""
        arrivals: dict[str, float] = {}
        for entry in self.upstream_control("requests"):
            body = entry.get("body") or {}
            messages = body.get("messages") or []
            if messages:
                arrivals[str(messages[-1].get("content"))] = float(entry["time"])
        for s in streams:
            s.upstream_at = arrivals.get(s.content)

    async def direct_round(self, label: str, tokens: int) -> RoundResult:
        assert self.client is not None
        client = self.client
        return await self.run_round(label, self.streams_for(label, tokens),
                                    lambda s: direct_chat(client, s), tokens=tokens,
                                    stack_round=False)

    def ws_base(self, chat: int) -> str:
        """The chat socket URL of the daphne that serves this chat (round-robin, as a load
        balancer in front of several web processes would spread them)."""
        return self.web_urls[chat % len(self.web_urls)].replace("http://", "ws://") + "/ws/chat/"

    async def web_round(self, label: str, tokens: int) -> RoundResult:
        sockets = await asyncio.gather(*(open_socket(self.ws_base(i), sid)
                                         for i, sid in enumerate(self.sessions)))
        try:
            return await self.run_round(label, self.streams_for(label, tokens),
                                        lambda s: web_chat(sockets[s.chat], s), tokens=tokens,
                                        stack_round=True)
        finally:
            await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)

    async def celery_round(self, label: str, tokens: int, round_index: int) -> RoundResult:
        conversations = self.conversations[round_index]
        sockets = await asyncio.gather(*(open_socket(f"{self.ws_base(i)}{cid}/", sid)
                                         for i, (cid, sid) in enumerate(
                                             zip(conversations, self.sessions, strict=True))))
        streams = self.streams_for(label, tokens)
        user_ids = self.user_ids

        def store_messages() -> list[str]:
            """The entry point's writes (a messenger's webhook would make these): the user's
            message and a PENDING reply in each conversation."""
            from accounts.models import User
            from conversations.services.messages import message_send

            users = User.objects.in_bulk(user_ids)
            return [str(message_send(user=users[user_ids[s.chat]], content=s.content,
                                     conversation_id=conversations[s.chat]).reply.pk)
                    for s in streams]

        replies = await self.in_db(store_messages)

        def enqueue() -> None:
            """One thread enqueues every chat in order, as a queue producer does; each chat's
            time starts as its task is sent."""
            from conversations.tasks import generate_reply

            for s, reply in zip(streams, replies, strict=True):
                s.t0 = clock()
                generate_reply.delay(reply)

        async def kickoff() -> None:
            await asyncio.get_running_loop().run_in_executor(None, enqueue)

        try:
            return await self.run_round(
                label, streams, lambda s: read_reply(sockets[s.chat], s, expect_sent=False),
                tokens=tokens, stack_round=True, kickoff=kickoff)
        finally:
            await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)

    async def stack_round(self, path: str, label: str, tokens: int, index: int) -> RoundResult:
        if path == "web":
            return await self.web_round(label, tokens)
        return await self.celery_round(label, tokens, index)

    # -- the whole run -------------------------------------------------------------------------
    async def run(self) -> dict[str, Any]:
        a = self.args
        main_task = asyncio.current_task()
        assert main_task is not None
        # SIGTERM ends the run like Ctrl-C: the task is cancelled and main() cleans up.
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
        self.client = openai.AsyncOpenAI(
            api_key="sk-bench", base_url=self.upstream, max_retries=0,
            timeout=openai.Timeout(30, connect=10),
            http_client=openai.DefaultAsyncHttpxClient(limits=_limits()))
        phases = [Phase(p) for p in self.paths]
        if a.warmup:
            # Connections, clients and code paths warm; nothing measured.
            self.upstream_control("configure", {"tokens": WARMUP_TOKENS})
            await self.direct_round("warm-up direct", WARMUP_TOKENS)
            for phase in phases:
                r = await self.stack_round(phase.path, f"warm-up {phase.path}", WARMUP_TOKENS,
                                           a.rounds)
                phase.warmup_errors = [s.error for s in r.streams if s.error]
            self.upstream_control("configure", {"tokens": a.tokens})
        self.log_offsets, _ = self.stack.log_errors()
        for i, phase in enumerate(phases):
            profilers: list[tuple[str, subprocess.Popen[bytes], Path]] = []
            for r in range(a.rounds):
                phase.direct.append(await self.direct_round(f"{phase.path} phase: direct {r + 1}",
                                                            a.tokens))
                if r == 0:
                    # The previous phase's writes are published by now (the wait overlaps this
                    # direct round), and nothing of this phase has written yet: one snapshot
                    # ends the previous phase and starts this one.
                    phase.db_before = await self.db_snapshot()
                    if i > 0:
                        phases[i - 1].db_after = phase.db_before
                    profilers = self.start_profilers(phase.path)
                phase.stack.append(await self.stack_round(
                    phase.path, f"{phase.path} phase: {phase.path} {r + 1}", a.tokens, r))
            phase.profile = self.stop_profilers(profilers)
            self.log_offsets, phase.log_errors = self.stack.log_errors(self.log_offsets)
        phases[-1].db_after = await self.db_snapshot()
        await self.client.close()
        return self.report(phases)

    # -- py-spy (optional, --profile DIR) ------------------------------------------------------
    def start_profilers(self, path: str) -> list[tuple[str, subprocess.Popen[bytes], Path]]:
        if not self.args.profile:
            return []
        out_dir = Path(self.args.profile)
        out_dir.mkdir(parents=True, exist_ok=True)
        spy = Path(sys.executable).parent / "py-spy"
        targets = [p.name for p in self.stack.procs if p.name.startswith("daphne")
                   or (path == "celery" and p.name.startswith("worker"))]
        started = []
        for name in targets:
            out = out_dir / f"{path}-{self.args.chats}-{name}.txt"
            proc = subprocess.Popen([str(spy), "record", "--pid", str(self.stack.proc(name).pid),
                                     "--format", "raw", "--rate", "100", "--gil", "--nonblocking",
                                     "--output", str(out)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            started.append((name, proc, out))
        return started

    def stop_profilers(self, started: list[tuple[str, subprocess.Popen[bytes], Path]]
                       ) -> dict[str, str]:
        out = {}
        for name, proc, path in started:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
            out[name] = str(path)
        return out

    # -- figures -------------------------------------------------------------------------------
    def report(self, phases: list[Phase]) -> dict[str, Any]:
        a = self.args
        out: dict[str, Any] = {
            "chats": a.chats, "rounds": a.rounds, "tokens": a.tokens, "path": a.path,
            "upstream_ttft_ms": round(a.ttft * 1000), "upstream_tokens_per_s": a.rate,
            "coalesce_ms": _setting("CHATLAB_COALESCE_MS"), "webs": a.webs,
            "workers": a.workers,
            "worker_concurrency": self.stack.worker_concurrency,
        }
        for phase in phases:
            prefix = "" if phase.path == "web" else "celery_"
            out.update({prefix + k: v for k, v in self.phase_figures(phase).items()})
        out["rss_mb"] = self.stack.rss()
        out["machine"] = machine()
        if self.stack.notes:
            out["notes"] = self.stack.notes
        return out

    def phase_figures(self, phase: Phase) -> dict[str, Any]:
        stack = [s for r in phase.stack for s in r.streams]
        direct = [s for r in phase.direct for s in r.streams]
        ok, dok = [s for s in stack if s.ok], [s for s in direct if s.ok]
        ttft, dttft = [s.ttft for s in ok], [s.ttft for s in dok]
        pre = [s.upstream_at - s.t0 for s in ok if s.upstream_at is not None]
        dpre = [s.upstream_at - s.t0 for s in dok if s.upstream_at is not None]
        gaps = [g for s in ok for g in s.gaps()]
        dgaps = [g for s in dok for g in s.gaps()]
        rates = [r for s in ok if (r := s.rate()) is not None]
        drates = [r for s in dok if (r := s.rate()) is not None]
        wall, dwall = _mean([r.wall for r in phase.stack]), _mean([r.wall for r in phase.direct])
        reply_bytes = sum(len(s.expected.encode()) for s in ok)
        upstream_tokens = sum(len(split_tokens(s.expected)) for s in stack)
        redis: Counter[str] = Counter()
        for r in phase.stack:
            redis.update(r.redis)
        writes = {t: n - phase.db_before.get(t, 0) for t, n in phase.db_after.items()
                  if n - phase.db_before.get(t, 0)}
        stream_errors = [s.error for s in stack + direct if s.error] + phase.warmup_errors
        n_rounds = max(len(phase.stack), 1)
        cpu = _sum_dicts([r.cpu for r in phase.stack], n_rounds)
        dcpu = _sum_dicts([r.cpu for r in phase.direct], max(len(phase.direct), 1))
        figures: dict[str, Any] = {
            "ttft_ratio_p50": _ratio(_pct(ttft, 50), _pct(dttft, 50)),
            "ttft_ratio_p95": _ratio(_pct(ttft, 95), _pct(dttft, 95)),
            "ttft_added_ms_p50": _ms(_pct(ttft, 50) - _pct(dttft, 50)) if ttft and dttft else None,
            "ttft_ms_p50": _ms(_pct(ttft, 50)), "ttft_ms_p95": _ms(_pct(ttft, 95)),
            "ttft_ms_max": _ms(max(ttft, default=math.nan)),
            "direct_ttft_ms_p50": _ms(_pct(dttft, 50)), "direct_ttft_ms_p95": _ms(_pct(dttft, 95)),
            # Send/enqueue -> the request reaches the upstream (the rest of ttft is delivery).
            "to_upstream_ms_p50": _ms(_pct(pre, 50)), "to_upstream_ms_p95": _ms(_pct(pre, 95)),
            "direct_to_upstream_ms_p50": _ms(_pct(dpre, 50)),
            "batch_wall_ratio": _ratio(wall, dwall),
            "wall_s": round(wall, 3), "direct_wall_s": round(dwall, 3),
            "tokens_per_s_ratio": _ratio(_pct(rates, 50), _pct(drates, 50)),
            "tokens_per_s_p50": _round(_pct(rates, 50), 1),
            "frame_gap_p50_ms": _ms(_pct(gaps, 50)), "frame_gap_p99_ms": _ms(_pct(gaps, 99)),
            "frame_gap_max_ms": _ms(max(gaps, default=math.nan)),
            "direct_gap_p99_ms": _ms(_pct(dgaps, 99)),
            "ws_frames_per_reply": _round(_mean([s.ws_frames for s in ok]), 1),
            "ws_bytes_per_reply_byte": _ratio(sum(s.ws_bytes for s in ok), reply_bytes),
            "ws_delta_bytes_per_reply_byte": _ratio(sum(s.ws_delta_bytes for s in ok),
                                                    reply_bytes),
            "redis_commands_per_token": _ratio(sum(redis.values()), upstream_tokens),
            "redis_commands": dict(redis.most_common(12)),
            "db_writes_per_reply": _ratio(sum(writes.values()), len(stack)),
            "db_writes": writes,
            "errors": len(stream_errors) + len(phase.log_errors),
            "stream_errors": len(stream_errors),
            "log_errors": len(phase.log_errors),
            "error_samples": (stream_errors + phase.log_errors)[:5],
            "cpu_s_per_round": cpu,
            "direct_cpu_s_per_round": dcpu,
        }
        if phase.profile:
            figures["profile"] = {name: summarize_profile(Path(p)) for name, p in
                                  phase.profile.items()}
        return figures


def _limits() -> Any:
    """A pool as large as daphne's (conversations/providers/openai_compat.py)."""
    import httpx2

    return httpx2.Limits(max_connections=1000, max_keepalive_connections=200, keepalive_expiry=30)


def _setting(name: str) -> Any:
    from django.conf import settings

    return getattr(settings, name, None)


# --------------------------------------------------------------------------------------------
# Small statistics
# --------------------------------------------------------------------------------------------

def _pct(values: Sequence[float], p: float) -> float:
    """Percentile with linear interpolation (numpy's default); nan when empty."""
    if not values:
        return math.nan
    v = sorted(values)
    k = (len(v) - 1) * p / 100
    lo, hi = math.floor(k), math.ceil(k)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def _ratio(a: float, b: float) -> float | None:
    return None if not b or math.isnan(a) or math.isnan(b) else round(a / b, 3)


def _ms(seconds: float) -> float | None:
    return None if math.isnan(seconds) else round(seconds * 1000, 1)


def _round(value: float, digits: int) -> float | None:
    return None if math.isnan(value) else round(value, digits)


def _sum_dicts(items: list[dict[str, float]], divide: int) -> dict[str, float]:
    total: Counter[str] = Counter()
    for item in items:
        total.update(item)
    return {k: round(v / divide, 3) for k, v in sorted(total.items())}


def machine() -> dict[str, Any]:
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                  if line.startswith("model name")), platform.processor())
    mem = next((int(line.split()[1]) for line in open("/proc/meminfo")
                if line.startswith("MemTotal:")), 0)
    return {"nproc": os.cpu_count(), "cpu": model, "mem_gb": round(mem / 1024 / 1024, 1),
            "python": platform.python_version(), "load_avg": os.getloadavg()}


# --------------------------------------------------------------------------------------------
# py-spy raw profiles -> where the CPU goes
# --------------------------------------------------------------------------------------------

CATEGORIES = [  # first match wins, tested against each frame's file path, innermost first
    ("openai SDK / pydantic (parse chunks)", ("openai/", "pydantic")),
    ("httpx / httpcore (upstream HTTP)", ("httpx", "httpcore", "h11/", "anyio/")),
    ("channels_redis / redis-py / msgpack", ("channels_redis/", "redis/", "msgpack")),
    ("twisted / autobahn / daphne (socket I/O)", ("twisted/", "autobahn/", "daphne/", "txaio/")),
    ("django ORM / psycopg", ("django/db/", "psycopg")),
    ("asgiref (sync_to_async threads)", ("asgiref/",)),
    ("celery / kombu", ("celery/", "kombu/", "billiard/")),
    ("chatlab code", ("conversations/", "chatlab_site/", "accounts/")),
    ("channels", ("channels/",)),
    ("json", ("json/",)),
    ("asyncio / uvloop", ("asyncio/", "uvloop")),
]


def summarize_profile(path: Path, top: int = 12) -> dict[str, Any]:
    """Self time by category and by function from a `py-spy record --format raw` file."""
    by_category: Counter[str] = Counter()
    by_function: Counter[str] = Counter()
    total = 0
    if not path.exists():
        return {"samples": 0}
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        leaf = frames[-1]
        by_function[re.sub(r":\d+\)$", ")", leaf)] += n
        category = "other"
        for frame in reversed(frames):
            hit = next((name for name, marks in CATEGORIES if any(m in frame for m in marks)),
                       None)
            if hit:
                category = hit
                break
        by_category[category] += n
    pct = (lambda n: round(100 * n / total, 1)) if total else (lambda n: 0.0)
    return {
        "samples": total,
        "self_pct_by_category": {k: pct(v) for k, v in by_category.most_common()},
        "self_pct_top_functions": {k: pct(v) for k, v in by_function.most_common(top)},
    }


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------

TABLE = [
    ("ttft_ratio_p50", "TTFT p50 / direct"), ("ttft_ratio_p95", "TTFT p95 / direct"),
    ("ttft_added_ms_p50", "TTFT added, p50 (ms)"), ("ttft_ms_p50", "TTFT p50 (ms)"),
    ("ttft_ms_p95", "TTFT p95 (ms)"), ("direct_ttft_ms_p50", "direct TTFT p50 (ms)"),
    ("direct_ttft_ms_p95", "direct TTFT p95 (ms)"),
    ("to_upstream_ms_p50", "send -> upstream p50 (ms)"),
    ("to_upstream_ms_p95", "send -> upstream p95 (ms)"),
    ("batch_wall_ratio", "round wall / direct"), ("wall_s", "round wall (s)"),
    ("tokens_per_s_ratio", "tokens/s / direct"),
    ("frame_gap_p50_ms", "frame gap p50 (ms)"), ("frame_gap_p99_ms", "frame gap p99 (ms)"),
    ("frame_gap_max_ms", "frame gap max (ms)"),
    ("ws_frames_per_reply", "WS frames / reply"),
    ("ws_bytes_per_reply_byte", "WS bytes / reply byte"),
    ("redis_commands_per_token", "Redis commands / token"),
    ("db_writes_per_reply", "DB writes / reply"), ("errors", "errors"),
]


def render(result: dict[str, Any]) -> str:
    paths = [p for p in ("", "celery_") if f"{p}errors" in result]
    names = {"": "web", "celery_": "celery"}
    head = (f"chats={result['chats']} rounds={result['rounds']} tokens={result['tokens']} "
            f"upstream ttft={result['upstream_ttft_ms']} ms "
            f"rate={result['upstream_tokens_per_s']}/s")
    columns = "".join(f"{names[p]:>12}" for p in paths)
    lines = [head, f"{'metric':<28}{columns}   goal (50 chats)"]
    for key, label in TABLE:
        goal = GOALS.get(key)
        row = f"{label:<28}"
        for p in paths:
            value = result.get(p + key)
            mark = ""
            if goal is not None and value is not None:
                met = value <= goal[1] if goal[0] == "<=" else value == goal[1]
                mark = " " if met else "!"
            row += f"{_fmt(value):>11}{mark}"
        lines.append(row + (f"   {goal[0]} {goal[1]:g}" if goal else ""))
    lines.append("")
    lines.append("CPU seconds per round (stack round | direct round)")
    procs = sorted({k for p in paths for k in result[p + "cpu_s_per_round"]})
    lines.append(f"{'process':<14}" + "".join(f"{names[p]:>20}" for p in paths))
    for proc in procs:
        row = f"{proc:<14}"
        for p in paths:
            s = result[p + "cpu_s_per_round"].get(proc, 0.0)
            d = result[p + "direct_cpu_s_per_round"].get(proc, 0.0)
            row += f"{s:>12.2f} |{d:>6.2f}"
        lines.append(row)
    for p in paths:
        if result.get(p + "error_samples"):
            lines.append(f"{names[p]} errors: " + "; ".join(result[p + "error_samples"]))
        for name, prof in (result.get(p + "profile") or {}).items():
            lines.append(f"py-spy {names[p]} path, {name}: {prof.get('samples')} samples")
            for cat, pct in list(prof.get("self_pct_by_category", {}).items())[:8]:
                lines.append(f"    {pct:5.1f} %  {cat}")
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--chats", type=int, default=50, help="concurrent chats per round")
    p.add_argument("--rounds", type=int, default=3, help="measured rounds per path (each "
                   "paired with a direct round)")
    p.add_argument("--tokens", type=int, default=200, help="tokens per reply")
    p.add_argument("--path", choices=("web", "celery", "both"), default="both")
    p.add_argument("--ttft", type=float, default=0.3, help="upstream seconds to first token")
    p.add_argument("--rate", type=float, default=50, help="upstream tokens per second")
    # The stack as the README's production deployment runs it: a web process and a Celery
    # worker per core.
    cores = os.cpu_count() or 1
    p.add_argument("--webs", type=int, default=cores,
                   help="daphne processes (one per core by default); chats are spread over "
                        "them round-robin")
    p.add_argument("--workers", type=int, default=cores,
                   help="Celery worker processes (one per core by default)")
    p.add_argument("--concurrency", type=int, default=0,
                   help="threads per worker (0: max(100, chats))")
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
                   help="record daphne (and the worker) with py-spy during each phase "
                        "(pip install py-spy)")
    p.add_argument("--keep-logs", action="store_true", help="keep the processes' logs")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = p.parse_args(argv)
    if min(args.chats, args.rounds, args.tokens, args.webs, args.workers) < 1:
        p.error("--chats, --rounds, --tokens, --webs and --workers must be at least 1")
    return args


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    bench = Bench(args)
    # Ctrl-C (even when started in the background, which ignores SIGINT) and SIGTERM end the
    # run through the clean-up below; during the rounds the event loop turns them into a
    # cancellation of the run.
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
