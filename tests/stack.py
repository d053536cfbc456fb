"""Starts Chatlab as real processes (daphne, Celery) for end-to-end and browser tests.

Each stack gets a database of its own (a PostgreSQL database made for it, or a SQLite file) and
its own Redis database number, so parallel test workers never share state.
"""

from __future__ import annotations

import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
POSTGRES_URL = os.environ.get("CHATLAB_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("CHATLAB_TEST_REDIS", "redis://127.0.0.1:6379")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(POSTGRES_URL, connect_timeout=2):
            return True
    except Exception:
        return False


def redis_available() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping())
    except Exception:
        return False


def chromium_path() -> str | None:
    for candidate in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if os.path.exists(candidate):
            return candidate
    return None


class Stack:
    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.env = env
        self.workdir = workdir
        self.processes: list[tuple[str, subprocess.Popen[bytes]]] = []

    def manage(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env,
            capture_output=True, text=True, timeout=300,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr}")
        return result

    def shell(self, code: str) -> str:
        """Runs Python in the stack's Django (for setup and assertions); returns its stdout."""
        return self.manage("shell", "-c", code).stdout

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.workdir / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.processes.append((name, proc))
        return proc

    def daphne(self, name: str = "web") -> str:
        port = free_port()
        # As in production (README): daphne on uvloop, app loaded, warmed up and frozen first.
        self._spawn(name, [str(BIN / "python"), "-m", "chatlab_site.serve", "-b", "127.0.0.1",
                           "-p", str(port)])
        url = f"http://127.0.0.1:{port}"
        self.wait_healthy(url)
        return url

    def celery_worker(self, name: str = "worker", queues: str = "chat,maintenance") -> subprocess.Popen[bytes]:
        proc = self._spawn(name, [str(BIN / "celery"), "-A", "chatlab_site", "worker", "-Q", queues,
                                  "-P", "threads", "-c", "20", "--without-mingle",
                                  "--without-gossip", "-n", f"{name}-{uuid.uuid4().hex[:6]}@%h",
                                  "--loglevel", "INFO"])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if b"ready." in (self.workdir / f"{name}.log").read_bytes():
                return proc
            if proc.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError(f"celery worker did not start:\n{self.log(name)}")

    def wait_healthy(self, url: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{url} did not become healthy:\n{self.logs()}")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        for proc_name, proc in self.processes:
            if proc_name == name and proc.poll() is None:
                os.killpg(proc.pid, sig)
                proc.wait(timeout=30)

    def log(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def logs(self) -> str:
        return "\n".join(f"--- {name}\n{self.log(name)[-4000:]}" for name, _ in self.processes)

    def close(self) -> None:
        for _, proc in self.processes:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for _, proc in self.processes:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def _claim_redis_db() -> int:
    """A Redis database number no other running stack uses (claimed with SET NX in db 0), so
    parallel stacks never share a Celery queue."""
    import redis

    client = redis.Redis.from_url(f"{REDIS_URL}/0")
    for _ in range(300):
        for number in random.sample(range(1, 16), 15):
            if client.set(f"chatlab-test-db:{number}", os.getpid(), nx=True, ex=1800):
                client.close()
                redis.Redis.from_url(f"{REDIS_URL}/{number}").flushdb()
                return number
        time.sleep(1)
    raise RuntimeError("no free Redis database for a test stack")


def _release_redis_db(number: int) -> None:
    import redis

    redis.Redis.from_url(f"{REDIS_URL}/0").delete(f"chatlab-test-db:{number}")


@contextmanager
def stack(tmp_path: Path, *, postgres: bool, redis: bool, **extra_env: str) -> Iterator[Stack]:
    """A migrated, seeded Chatlab with nothing running yet; processes stop on exit."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CHATLAB_", "DJANGO_", "CELERY_"))
           and k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "ALLOWED_HOSTS")}
    env.update(
        SECRET_KEY=secrets.token_urlsafe(60),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        CHATLAB_HTTPS="false",
        # Model-written titles would take answers scripted for replies (tests/settings.py).
        CHATLAB_AUTO_TITLES="false",
        CHATLAB_DATA_DIR=str(tmp_path / "data"),
        STATIC_ROOT=str(tmp_path / "static"),
        PYTHONUNBUFFERED="1",
    )
    database = None
    if postgres:
        import psycopg

        database = f"chatlab_e2e_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{database}"')
        env["DATABASE_URL"] = POSTGRES_URL.rsplit("/", 1)[0] + f"/{database}"
    redis_db = None
    if redis:
        redis_db = _claim_redis_db()
        env["REDIS_URL"] = f"{REDIS_URL}/{redis_db}"
    env.update(extra_env)
    s = Stack(env, tmp_path)
    try:
        s.manage("migrate", "--noinput")
        s.manage("collectstatic", "--noinput")
        s.manage("seed_bots")
        yield s
    finally:
        s.close()
        if redis_db is not None:
            _release_redis_db(redis_db)
        if database:
            import psycopg

            with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
