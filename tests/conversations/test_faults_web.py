"""Fault injection on the production layout, web side (issue #17): PostgreSQL, Redis, two daphne
web processes and a Celery worker, driven over real sockets against the fake OpenAI server.

- the Celery broker is down: replies complete and say `done`, the next message works;
- a web process is SIGKILLed in the first seconds of a reply: the user's message and the text
  they saw are kept, a tab reconnecting elsewhere is shown that at once, and the reply is marked
  interrupted within the stale limit plus a few seconds;
- the app's database connections are cut mid-reply: the reply still ends stored, or as a
  readable failure, never stuck.

Stale and checkpoint settings are short (env) so the module stays quick.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from conversations.services.generation import INTERRUPTED
from tests.conftest import require
from tests.e2e_client import ChatSocket, Database, assembled, conversation_id_of, is_done, sign_up
from tests.fakes.openai_server import FakeOpenAI
from tests.stack import BIN, Stack, free_port, postgres_available, redis_available, stack
from tests.test_multiprocess import SETUP_BOT, Cluster, close, expected, send

pytestmark = pytest.mark.multiprocess

STALE = 5  # CHATLAB_STALE_REPLY_SECONDS (the smallest allowed)
SWEEP_PERIOD = 1.25  # max(1, STALE / 4): how often the web processes sweep
PING_WAIT = 2.0  # the sweep's liveness question waits this long for answers
CACHE_CHECKPOINT = 0.3  # CHATLAB_CHECKPOINT_CACHE_SECONDS
RATE, LONG = 50, 400  # tokens/s of the fake model; a reply that is cut never runs to its end


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory,
            fake_openai_server: FakeOpenAI) -> Iterator[Cluster]:
    require(postgres_available() and redis_available(),
            "fault-injection tests need PostgreSQL and Redis")
    workdir: Path = tmp_path_factory.mktemp("faults-web")
    with stack(workdir, postgres=True, redis=True, CHATLAB_STALE_REPLY_SECONDS=str(STALE),
               CHATLAB_CHECKPOINT_CACHE_SECONDS=str(CACHE_CHECKPOINT)) as s:
        s.shell(SETUP_BOT.format(url=fake_openai_server.url))
        c = Cluster(s, fake_openai_server, Database(s.env["DATABASE_URL"]))
        c.ensure()
        c.account = sign_up(c.a)
        yield c


@pytest.fixture
def c(cluster: Cluster) -> Iterator[Cluster]:
    cluster.ensure()
    cluster.fake.reset()
    cluster.fake.configure(ttft=0.05, rate=RATE, tokens=40)
    yield cluster
    print(cluster.s.logs())  # shown when the test fails


@pytest.fixture
async def sockets() -> AsyncIterator[list[ChatSocket]]:
    opened: list[ChatSocket] = []
    yield opened
    await close(*opened)


async def open_socket(c: Cluster, sockets: list[ChatSocket], url: str,
                      conversation: str | None = None, *, name: str) -> ChatSocket:
    assert c.account is not None
    sock = await ChatSocket.open(url, c.account, conversation, name=name)
    sockets.append(sock)
    return sock


def daphne_with(s: Stack, name: str, **env: str) -> str:
    """A web process like the others but for `env`; ready once it serves a page (its
    /healthz may rightly say 503: that is the fault under test)."""
    saved = s.env
    s.env = {**saved, **env}
    try:
        port = free_port()
        s._spawn(name, [str(BIN / "python"), "-m", "chatlab_site.serve", "-b", "127.0.0.1",
                        "-p", str(port)])
    finally:
        s.env = saved
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/accounts/login/", timeout=2).status_code == 200:
                return url
        time.sleep(0.2)
    raise RuntimeError(f"{name} did not start:\n{s.log(name)}")


# The broker is down ----------------------------------------------------------------------------

async def test_with_the_broker_down_replies_complete_and_the_next_message_works(
    c: Cluster, sockets: list[ChatSocket]
) -> None:
    url = await asyncio.to_thread(
        daphne_with, c.s, "web-no-broker", CELERY_BROKER_URL=f"redis://127.0.0.1:{free_port()}/0",
        CHATLAB_AUTO_TITLES="true")
    try:
        sock = await open_socket(c, sockets, url, name="no-broker")
        first = await send(sock, "How do I cook soup for four people?")
        done = (await sock.until(lambda f: is_done(f, first["reply"]["id"]), timeout=10))[-1]
        assert done["status"] == "complete"
        conversation = conversation_id_of(sock.frames)
        # The title is still automatic: this reply asks for it again, and must not care.
        second = await send(sock, "And for six?")
        done = (await sock.until(lambda f: is_done(f, second["reply"]["id"]), timeout=10))[-1]
        assert done["status"] == "complete", done
        for reply in (first, second):
            assert c.db.message(reply["reply"]["id"])["status"] == "complete"
        title = c.db.rows("SELECT title FROM conversations_conversation WHERE id = %s",
                          conversation)[0]["title"]
        assert title == "How do I cook soup for four people?"  # made later, or never: no harm
        log = c.s.log("web-no-broker")
        assert log.count("Celery broker unreachable") == 1, log[-3000:]
        assert "Task exception was never retrieved" not in log
        assert "Traceback" not in log, log[-3000:]
    finally:
        c.s.kill("web-no-broker")


# A web process dies in the first seconds of a reply ----------------------------------------

async def test_a_web_process_killed_early_in_a_reply_keeps_what_the_user_saw(
    c: Cluster, sockets: list[ChatSocket]
) -> None:
    c.fake.configure(tokens=LONG)
    a = await open_socket(c, sockets, c.a, name="A")
    content = "the web process dies early"
    sent = await send(a, content)
    reply_id = sent["reply"]["id"]
    user_message_id = str(c.db.message(reply_id)["reply_to_id"])
    conversation = conversation_id_of(a.frames)
    await a.until(lambda f: "d" in f and f["n"] >= 3)
    seen = assembled(a.frames, sent["k"])
    # Within the first seconds; long enough after `seen` for one cache checkpoint.
    await asyncio.sleep(CACHE_CHECKPOINT + 0.4)
    c.kill("web-a")
    killed = time.monotonic()
    restarting = asyncio.create_task(asyncio.to_thread(c.start, "web-a"))  # for later tests
    full = expected(content, LONG)
    assert len(seen) > 20 and full.startswith(seen)

    # A tab reconnecting on the other process is shown the text at once...
    b = await open_socket(c, sockets, c.b, conversation, name="B")
    shown = (await b.until(lambda f: f.get("type") == "message", timeout=2))[-1]["message"]
    assert time.monotonic() - killed < 3
    assert shown["id"] == reply_id and shown["status"] == "streaming"
    assert shown["content"].startswith(seen) and full.startswith(shown["content"])
    # ...and told the reply was interrupted within the stale limit plus a few seconds.
    done = (await b.until(lambda f: is_done(f, reply_id), timeout=STALE + 8))[-1]
    assert time.monotonic() - killed <= STALE + SWEEP_PERIOD + PING_WAIT + 1.5
    assert done["status"] == "failed" and done["error"] == INTERRUPTED
    row = c.db.message(reply_id)
    assert row["status"] == "failed" and row["error"] == INTERRUPTED
    assert row["content"].startswith(seen) and full.startswith(row["content"])
    mine = c.db.message(user_message_id)
    assert mine["content"] == content and mine["status"] == "complete"
    await restarting


# The database connections are cut mid-reply -----------------------------------------------

async def test_cutting_the_database_connections_mid_reply_never_leaves_it_stuck(
    c: Cluster, sockets: list[ChatSocket]
) -> None:
    a = await open_socket(c, sockets, c.a, name="A")
    # A first reply: the process now holds open connections (its final save's among them).
    c.fake.configure(tokens=8)
    warm = await send(a, "warm up")
    await a.until(lambda f: is_done(f, warm["reply"]["id"]))
    c.fake.configure(tokens=120)  # 2.4 s
    content = "the database goes away"
    sent = await send(a, content)
    reply_id = sent["reply"]["id"]
    await a.until(lambda f: "d" in f and f["n"] >= 3)
    cut = await asyncio.to_thread(terminate_app_connections, c)
    assert cut >= 1
    done = (await a.until(lambda f: is_done(f, reply_id), timeout=STALE + 10))[-1]
    row = c.db.message(reply_id)
    assert row["status"] == done["status"]
    print("outcome after the cut:", row["status"])
    if row["status"] == "complete":
        assert row["content"] == assembled(a.frames, sent["k"])
        assert row["content"].startswith("Echo: the database goes away")
    else:  # a failure the person can read and retry, with the text so far
        assert row["status"] == "failed" and row["error"], row
        assert row["content"].startswith("Echo: the database goes away")
    # The site goes on: the next message is answered and stored.
    c.fake.configure(tokens=8)
    again = await send(a, "still there?")
    done = (await a.until(lambda f: is_done(f, again["reply"]["id"]), timeout=10))[-1]
    assert done["status"] == "complete"
    assert c.db.message(again["reply"]["id"])["status"] == "complete"


def terminate_app_connections(c: Cluster) -> int:
    """pg_terminate_backend on every connection to the stack's database but this one."""
    with psycopg.connect(c.s.env["DATABASE_URL"], autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchall()
    return sum(1 for (ok,) in rows if ok)
