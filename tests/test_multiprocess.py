"""Chatlab as it runs in production: two daphne processes and a Celery worker on PostgreSQL and
Redis, driven from outside over HTTP and WebSockets, with processes killed mid-reply.

One stack serves the whole module (starting it is most of the cost); a test that kills a process
leaves it to the `c` fixture to start a new one before the next test.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import signal
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from celery import Celery

from conversations.services.generation import INTERRUPTED
from tests.conftest import require
from tests.e2e_client import (
    Account,
    ChatSocket,
    Database,
    Frame,
    assembled,
    deltas,
    conversation_id_of,
    is_done,
    resumed,
    sign_up,
)
from tests.fakes.openai_server import FakeOpenAI, default_reply
from tests.stack import Stack, postgres_available, redis_available, stack

pytestmark = pytest.mark.multiprocess

STALE_SECONDS = 5  # CHATLAB_STALE_REPLY_SECONDS for this stack (the smallest it allows)
TTFT, RATE = 0.05, 50  # fake model pacing: 50 tokens/s, so 40 tokens stream for about 0.8 s
LONG = 200  # tokens of a reply that is killed or stopped early: it never runs to its end

SETUP_BOT = """
from conversations.models import Bot, Provider
provider = Provider.objects.create(name="Fake OpenAI", kind="openai", base_url={url!r},
                                   api_key="sk-e2e", timeout=5, max_retries=1)
Bot.objects.create(slug="gpt", name="GPT", provider=provider, model="gpt-4o-mini",
                   system_prompt="You are a test bot.")
"""

QUEUE_REPLY = """
import json
from accounts.models import User
from conversations.services.messages import message_send
from conversations.tasks import generate_reply
sent = message_send(user=User.objects.get(email={email!r}), content={content!r},
                    conversation_id={conversation!r})
generate_reply.delay(str(sent.reply.pk))
print(json.dumps({{"user_message": str(sent.user_message.pk), "reply": str(sent.reply.pk)}}))
"""

SWEEP = """
from asgiref.sync import async_to_sync
from conversations.services.sweep import sweep_interrupted_replies
print(async_to_sync(sweep_interrupted_replies)())
"""


@dataclass
class Cluster:
    s: Stack
    fake: FakeOpenAI
    db: Database
    account: Account | None = None
    urls: dict[str, str] = field(default_factory=dict)  # role -> base URL
    names: dict[str, str] = field(default_factory=dict)  # role -> current process name
    serial: Iterator[int] = field(default_factory=itertools.count)
    sockets: list[ChatSocket] = field(default_factory=list)  # closed after each test

    @property
    def a(self) -> str:
        return self.urls["web-a"]

    @property
    def b(self) -> str:
        return self.urls["web-b"]

    def process(self, role: str) -> subprocess.Popen[bytes] | None:
        name = self.names.get(role)
        return next((p for n, p in reversed(self.s.processes) if n == name), None)

    def alive(self, role: str) -> bool:
        proc = self.process(role)
        return proc is not None and proc.poll() is None

    def start(self, role: str) -> None:
        name = self.names[role] = f"{role}-{next(self.serial)}"
        if role == "worker":
            self.s.celery_worker(name, queues="chat,maintenance")
        else:
            self.urls[role] = self.s.daphne(name)

    def kill(self, role: str) -> None:
        self.s.kill(self.names[role], signal.SIGKILL)

    def ensure(self) -> None:
        """Starts whichever process is missing: the web processes one after the other (each
        picks a free port), alongside the worker."""
        webs = [role for role in ("web-a", "web-b") if not self.alive(role)]
        with ThreadPoolExecutor(2) as pool:
            started = [pool.submit(lambda: [self.start(role) for role in webs])]
            if not self.alive("worker"):
                started.append(pool.submit(self.start, "worker"))
            for future in started:
                future.result()
        assert self.a != self.b

    def sweep(self) -> int:
        return int(self.s.shell(SWEEP).strip().splitlines()[-1])

    def send_task(self, name: str, queue: str) -> None:
        """Queues a task by name, as celery beat does, for the stack's workers."""
        app = Celery("e2e", broker=self.s.env["REDIS_URL"], set_as_current=False)
        try:
            app.send_task(name, queue=queue)
        finally:
            app.close()

    def queue_reply(self, content: str, conversation: str) -> dict[str, str]:
        assert self.account is not None
        out = self.s.shell(QUEUE_REPLY.format(email=self.account.email, content=content,
                                              conversation=conversation))
        return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory,
            fake_openai_server: FakeOpenAI) -> Iterator[Cluster]:
    require(postgres_available() and redis_available(),
            "multi-process tests need PostgreSQL and Redis")
    workdir: Path = tmp_path_factory.mktemp("multiprocess")
    with stack(workdir, postgres=True, redis=True,
               CHATLAB_STALE_REPLY_SECONDS=str(STALE_SECONDS)) as s:
        s.shell(SETUP_BOT.format(url=fake_openai_server.url))
        c = Cluster(s, fake_openai_server, Database(s.env["DATABASE_URL"]))
        c.ensure()
        c.account = sign_up(c.a)
        yield c


@pytest.fixture
def c(cluster: Cluster) -> Iterator[Cluster]:
    cluster.ensure()
    cluster.fake.reset()
    cluster.fake.configure(ttft=TTFT, rate=RATE, tokens=40)
    yield cluster
    # Shown only when the test fails: what each process logged.
    print(cluster.s.logs())


@pytest.fixture(autouse=True)
async def _close_sockets(c: Cluster) -> AsyncIterator[None]:
    yield
    await close(*c.sockets)
    c.sockets.clear()


def expected(content: str, tokens: int) -> str:
    return default_reply([{"role": "user", "content": content}], tokens)


async def open_socket(c: Cluster, url: str, conversation: str | None = None, *,
                      name: str) -> ChatSocket:
    assert c.account is not None
    sock = await ChatSocket.open(url, c.account, conversation, name=name)
    c.sockets.append(sock)
    return sock


async def send(sock: ChatSocket, content: str, *, bot: str | None = "gpt") -> Frame:
    """Sends a message; returns the "sent" frame (its "reply" is the new assistant message)."""
    frame: Frame = {"type": "send", "content": content, "client_id": str(uuid.uuid4())}
    if bot:
        frame["bot"] = bot
    await sock.send(frame)
    return (await sock.until(lambda f: f.get("type") == "sent"))[-1]


async def new_conversation(c: Cluster, sock: ChatSocket) -> str:
    """Starts a conversation with a short reply over `sock`; returns its id."""
    c.fake.configure(tokens=8)
    sent = await send(sock, "hello")
    await sock.until(lambda f: is_done(f, sent["reply"]["id"]))
    c.fake.configure(tokens=40)
    return conversation_id_of(sock.frames)


async def close(*socks: ChatSocket) -> None:
    for sock in socks:
        with contextlib.suppress(Exception):
            await sock.close()


async def until_stale(c: Cluster, reply_id: str) -> None:
    """Waits until the reply is old enough for the sweep to consider it (its own cut-off)."""
    age = c.db.rows("SELECT extract(epoch FROM now() - updated_at)::float AS age "
                    "FROM conversations_message WHERE id = %s", reply_id)[0]["age"]
    await asyncio.sleep(max(0.0, STALE_SECONDS + 0.3 - age))


# 1 --------------------------------------------------------------------------------------------

async def test_a_message_sent_on_one_process_streams_on_the_other(c: Cluster) -> None:
    a = await open_socket(c, c.a, name="A")
    conversation = await new_conversation(c, a)
    b = await open_socket(c, c.b, conversation, name="B")
    await b.barrier()
    a.frames.clear()

    content = "across two processes"
    sent = await send(a, content)
    reply_id = sent["reply"]["id"]
    await a.until(lambda f: is_done(f, reply_id))
    theirs = await b.until(lambda f: is_done(f, reply_id))

    b_sent = next(f for f in theirs if f.get("type") == "sent")
    assert b_sent["message"]["content"] == content and b_sent["reply"]["id"] == reply_id
    key_b = b_sent["k"]
    # B hears of the message first, asks the writer on A for the text so far (which turns
    # broadcasting on for this reply), then gets every later delta in order.
    snapshot = next(f for f in theirs if f.get("type") == "snapshot" and f["k"] == key_b)
    assert theirs.index(b_sent) < theirs.index(snapshot)
    text_a, text_b = assembled(a.frames, sent["k"]), resumed(theirs, key_b)
    assert theirs[-1]["n"] == len(deltas(a.frames, sent["k"]))
    assert theirs[-1]["status"] == "complete"
    row = c.db.message(reply_id)
    assert row["status"] == "complete"
    assert text_b == text_a == row["content"] == expected(content, 40)


# 2 --------------------------------------------------------------------------------------------

async def test_a_reply_written_by_celery_reaches_every_process(c: Cluster) -> None:
    a = await open_socket(c, c.a, name="A")
    conversation = await new_conversation(c, a)
    b = await open_socket(c, c.b, conversation, name="B")
    await a.barrier()
    await b.barrier()

    content = "through the queue"
    ids = await asyncio.to_thread(c.queue_reply, content, conversation)
    reply_id = ids["reply"]
    done_a = (await a.until(lambda f: is_done(f, reply_id)))[-1]
    done_b = (await b.until(lambda f: is_done(f, reply_id)))[-1]

    assert done_a["status"] == done_b["status"] == "complete"
    text_a, text_b = assembled(a.frames, done_a["k"]), assembled(b.frames, done_b["k"])
    assert done_a["n"] == len(deltas(a.frames, done_a["k"])) > 1
    assert done_b["n"] == len(deltas(b.frames, done_b["k"]))
    row = c.db.message(reply_id)
    assert row["status"] == "complete" and row["completion_tokens"] == 40
    assert text_a == text_b == row["content"] == expected(content, 40)
    # The worker wrote it, once: one model request for the first reply, one for this one.
    assert "generate_reply" in c.s.log(c.names["worker"])
    assert len(c.fake.requests) == 2


# 3 --------------------------------------------------------------------------------------------

async def test_reconnecting_to_the_other_process_gets_a_snapshot_then_the_rest(
    c: Cluster,
) -> None:
    c.fake.configure(tokens=80)
    a = await open_socket(c, c.a, name="A")
    content = "reconnect elsewhere"
    sent = await send(a, content)
    reply_id = sent["reply"]["id"]
    conversation_id = conversation_id_of(a.frames)
    await a.until(lambda f: "d" in f and f["n"] >= 3)
    await close(a)  # the tab goes away mid-reply; it comes back on the other process

    b = await open_socket(c, c.b, conversation_id, name="B")
    frames = await b.until(lambda f: is_done(f, reply_id))
    snapshot = next(f for f in frames if f.get("type") == "snapshot")
    assert snapshot["id"] == reply_id and snapshot["status"] == "streaming"
    assert snapshot["n"] >= 3 and snapshot["content"]
    assert frames[-1]["status"] == "complete"
    row = c.db.message(reply_id)
    assert row["status"] == "complete"
    assert resumed(frames, snapshot["k"]) == row["content"] == expected(content, 80)


# 4 --------------------------------------------------------------------------------------------

async def test_killing_the_web_process_mid_reply_leaves_no_reply_streaming(c: Cluster) -> None:
    c.fake.configure(tokens=LONG)
    a = await open_socket(c, c.a, name="A")
    content = "the web process dies"
    sent = await send(a, content)
    reply_id = sent["reply"]["id"]
    user_message_id = str(c.db.message(reply_id)["reply_to_id"])
    conversation_id = conversation_id_of(a.frames)
    b = await open_socket(c, c.b, conversation_id, name="B")
    await b.barrier()
    await a.until(lambda f: "d" in f and f["n"] >= 2)

    c.kill("web-a")
    await close(a)
    assert c.db.message(reply_id)["status"] == "streaming"  # nobody is left to finish it

    restarting = asyncio.create_task(asyncio.to_thread(c.start, "web-a"))  # for the next tests
    await until_stale(c, reply_id)
    # The sweep, called directly (the surviving web process sweeps too: one of them marks it).
    assert await asyncio.to_thread(c.sweep) in (0, 1)
    await restarting
    row = c.db.message(reply_id)
    assert row["status"] == "failed" and row["error"] == INTERRUPTED
    # The tab on the other process is told at once.
    done = (await b.until(lambda f: is_done(f, reply_id)))[-1]
    assert done["status"] == "failed" and done["error"] == INTERRUPTED
    mine = c.db.message(user_message_id)
    assert mine["content"] == content and mine["status"] == "complete"

    # Retry from the surviving process.
    c.fake.configure(tokens=40)
    await b.send({"type": "regenerate", "id": reply_id})
    again = (await b.until(lambda f: f.get("type") == "regenerated"))[-1]
    new_id = again["reply"]["id"]
    finished = (await b.until(lambda f: is_done(f, new_id)))[-1]
    assert finished["status"] == "complete"
    assert assembled(b.frames, again["k"]) == c.db.message(new_id)["content"] \
        == expected(content, 40)
    replies = c.db.replies_to(user_message_id)
    assert [(r["id"].hex, r["superseded_at"] is None) for r in replies] == [
        (uuid.UUID(reply_id).hex, False), (uuid.UUID(new_id).hex, True)]


# 5 --------------------------------------------------------------------------------------------

async def test_killing_the_worker_mid_reply_neither_strands_nor_doubles_it(c: Cluster) -> None:
    b = await open_socket(c, c.b, name="B")
    conversation = await new_conversation(c, b)
    b.frames.clear()
    c.fake.configure(tokens=LONG)
    ids = await asyncio.to_thread(c.queue_reply, "the worker dies", conversation)
    reply_id = ids["reply"]
    await b.until(lambda f: "d" in f and f["n"] >= 2)

    c.kill("worker")
    assert c.db.message(reply_id)["status"] == "streaming"
    # A new worker comes up (an unacknowledged task may be delivered to it again) meanwhile.
    await asyncio.gather(asyncio.to_thread(c.start, "worker"), until_stale(c, reply_id))
    # The sweep as celery beat runs it, on the new worker.
    c.send_task("conversations.tasks.sweep_interrupted_replies", queue="maintenance")
    done = (await b.until(lambda f: is_done(f, reply_id), timeout=15))[-1]

    row = c.db.message(reply_id)
    assert row["status"] == done["status"]
    assert row["status"] == "complete" or (
        row["status"] == "failed" and row["error"] == INTERRUPTED), row
    replies = c.db.replies_to(ids["user_message"])
    assert len([r for r in replies if r["superseded_at"] is None]) == 1, replies
    assert len(replies) == 1
    assert c.db.message(ids["user_message"])["content"] == "the worker dies"


# 6 --------------------------------------------------------------------------------------------

async def test_stop_from_the_other_process_cancels_and_keeps_the_partial_text(
    c: Cluster,
) -> None:
    c.fake.configure(tokens=LONG)
    a = await open_socket(c, c.a, name="A")
    content = "stop me from elsewhere"
    sent = await send(a, content)
    reply_id = sent["reply"]["id"]
    conversation_id = conversation_id_of(a.frames)
    b = await open_socket(c, c.b, conversation_id, name="B")
    await b.until(lambda f: "d" in f and f["n"] >= 2)

    await b.send({"type": "stop", "id": reply_id})
    done_b = (await b.until(lambda f: is_done(f, reply_id)))[-1]
    done_a = (await a.until(lambda f: is_done(f, reply_id)))[-1]
    assert done_a["status"] == done_b["status"] == "cancelled"

    row = c.db.message(reply_id)
    full = expected(content, LONG)
    assert row["status"] == "cancelled"
    assert row["content"].startswith("Echo: stop me") and full.startswith(row["content"])
    assert len(row["content"]) < len(full)
    assert assembled(a.frames, sent["k"]) == row["content"]
    assert resumed(b.frames, done_b["k"]) == row["content"]
