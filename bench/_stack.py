"""The production stack on this machine, for bench/stream.py: processes, database, Redis, meters.

`BenchStack` makes a fresh PostgreSQL database and starts a private redis-server (so that
`INFO commandstats` counts this stack's commands only, and no other stack's worker or pub/sub
traffic can reach it), the fake upstream, daphne (`python -m chatlab_site.serve`, uvloop) and the
Celery `chat` worker(s). `close()` stops every process it started and drops the database; the
processes also die with the bench (PR_SET_PDEATHSIG) if it is killed outright.

The meters read what the kernel and the servers already count, without adding work to the stack:
/proc/<pid>/stat for CPU, `INFO commandstats` for Redis, pg_stat_user_tables for database writes.
"""

from __future__ import annotations

import ctypes
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get("CHATLAB_TEST_POSTGRES",
                              "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_SERVER = shutil.which("redis-server")
SHARED_REDIS_URL = os.environ.get("CHATLAB_TEST_REDIS", "redis://127.0.0.1:6379")
TICKS = os.sysconf("SC_CLK_TCK")
# The tables the application writes (pg_stat_user_tables.relname prefixes).
APP_TABLE_PREFIXES = ("accounts_", "conversations_", "imaging_", "integrations_", "analytics_")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """Runs in the child before exec: own session (Ctrl-C is ours to relay), and SIGTERM when
    the bench process dies, however it dies."""
    os.setsid()
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:  # pragma: no cover - not glibc
        pass


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of a process (all its threads), or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    fields_ = stat[stat.rindex(b")") + 2:].split()  # the name may hold spaces; skip past it
    return (int(fields_[11]) + int(fields_[12])) / TICKS


def rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def machine_busy_seconds() -> float:
    """CPU time the whole machine spent busy (all cores), from /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return (sum(values[:8]) - idle) / TICKS


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class CpuSample:
    at: float
    procs: dict[str, float]  # process name -> CPU seconds so far
    postgres: dict[int, float]  # backend pid -> CPU seconds so far
    machine: float


@dataclass
class BenchStack:
    workers: int = 1
    worker_concurrency: int = 100
    redis_url: str | None = None  # None: a private redis-server (the shared one if none)
    keep_logs: bool = False
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="chatlab-bench-")))
    env: dict[str, str] = field(default_factory=dict)
    procs: list[Proc] = field(default_factory=list)
    database: str | None = None
    redis_private: bool = False
    notes: list[str] = field(default_factory=list)
    _monitor: psycopg.Connection[Any] | None = None
    _redis: redis.Redis | None = None

    # -- set-up --------------------------------------------------------------------------
    def provision(self) -> None:
        """A new database and Redis, and the environment every process of the stack shares."""
        self.database = f"chatlab_bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.database}"')
        database_url = POSTGRES_URL.rsplit("/", 1)[0] + f"/{self.database}"
        redis_url = self.redis_url
        if redis_url is None and REDIS_SERVER:
            port = free_port()
            self._spawn("redis", [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1",
                                  "--save", "", "--appendonly", "no", "--databases", "1",
                                  "--dir", str(self.workdir)], env=dict(os.environ))
            redis_url = f"redis://127.0.0.1:{port}/0"
            self.redis_private = True
        elif redis_url is None:
            redis_url = f"{SHARED_REDIS_URL}/{secrets.randbelow(15) + 1}"
            self.notes.append("no redis-server binary: shared Redis, so Redis command counts "
                              "include any other client of that server")
        self._redis = redis.Redis.from_url(redis_url)
        _wait(lambda: self._redis.ping(), "redis", 20)  # type: ignore[union-attr]
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("CHATLAB_", "DJANGO_", "CELERY_"))
               and k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "ALLOWED_HOSTS")}
        env.update(
            DJANGO_SETTINGS_MODULE="chatlab_site.settings",
            DATABASE_URL=database_url,
            REDIS_URL=redis_url,
            SECRET_KEY=secrets.token_urlsafe(60),
            ALLOWED_HOSTS="127.0.0.1,localhost",
            CHATLAB_HTTPS="false",
            CHATLAB_DATA_DIR=str(self.workdir / "data"),
            STATIC_ROOT=str(self.workdir / "static"),
            LOG_LEVEL="warning",
            PYTHONUNBUFFERED="1",
            PYTHONPATH=str(ROOT),
        )
        self.env = env
        self._monitor = psycopg.connect(database_url, autocommit=True)

    def setup_django(self) -> None:
        """Django in this process, on the stack's settings: for migrations, fixtures, sessions
        and the Celery path's entry point (message_send + generate_reply.delay)."""
        os.environ.update(self.env)
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", interactive=False, verbosity=0)

    def start_upstream(self, *, ttft: float, rate: float, tokens: int) -> str:
        port = free_port()
        self._spawn("upstream", [sys.executable, "-m", "tests.fakes.openai_server",
                                 "--port", str(port), "--ttft", str(ttft), "--rate", str(rate),
                                 "--tokens", str(tokens)])
        return f"http://127.0.0.1:{port}/v1"

    def start_daphne(self, name: str = "daphne") -> str:
        port = free_port()
        self._spawn(name, [sys.executable, "-m", "chatlab_site.serve", "-b", "127.0.0.1",
                           "-p", str(port)])
        return f"http://127.0.0.1:{port}"

    def start_workers(self) -> None:
        for i in range(self.workers):
            name = "worker" if self.workers == 1 else f"worker{i + 1}"
            self._spawn(name, [sys.executable, "-m", "celery", "-A", "chatlab_site", "worker",
                               "-Q", "chat", "-P", "threads", "-c", str(self.worker_concurrency),
                               "--without-mingle", "--without-gossip", "--loglevel", "INFO",
                               "-n", f"bench{i + 1}-{uuid.uuid4().hex[:6]}@%h"])

    def wait_ready(self, web_urls: list[str]) -> None:
        upstream = next(p for p in self.procs if p.name == "upstream")
        _wait(lambda: "listening on" in upstream.log_text(), "fake upstream", 30, self)
        for url in web_urls:
            _wait(lambda u=url: httpx.get(f"{u}/healthz", timeout=5).status_code == 200,
                  f"daphne at {url}", 60, self)
        for proc in self.procs:
            if proc.name.startswith("worker"):
                _wait(lambda p=proc: " ready." in p.log_text(), proc.name, 60, self)

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Proc:
        log = self.workdir / f"{name}.log"
        with open(log, "wb") as out:
            popen = subprocess.Popen(argv, cwd=ROOT, env=env or self.env, stdout=out,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     preexec_fn=_die_with_parent)
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def proc(self, name: str) -> Proc:
        return next(p for p in self.procs if p.name == name)

    def check_alive(self) -> None:
        for proc in self.procs:
            if not proc.alive():
                raise RuntimeError(f"{proc.name} exited ({proc.popen.returncode}):\n"
                                   f"{proc.log_text()[-3000:]}")

    # -- meters --------------------------------------------------------------------------
    def cpu_sample(self) -> CpuSample:
        procs = {p.name: cpu_seconds(p.pid) or 0.0 for p in self.procs}
        procs["client"] = cpu_seconds(os.getpid()) or 0.0
        backends: dict[int, float] = {}
        assert self._monitor is not None
        for (pid,) in self._monitor.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()"):
            if (cpu := cpu_seconds(pid)) is not None:
                backends[pid] = cpu
        return CpuSample(time.monotonic(), procs, backends, machine_busy_seconds())

    @staticmethod
    def cpu_delta(a: CpuSample, b: CpuSample) -> dict[str, float]:
        """CPU seconds per process between two samples; `postgres` sums this database's
        backends, `other` is whatever else kept the machine busy (other users, the kernel)."""
        out = {name: b.procs[name] - a.procs.get(name, 0.0) for name in b.procs}
        out["postgres"] = sum(cpu - a.postgres.get(pid, 0.0) for pid, cpu in b.postgres.items())
        out["other"] = max(0.0, (b.machine - a.machine) - sum(out.values()))
        return out

    def redis_commands(self) -> dict[str, int]:
        """Calls per command so far (INFO commandstats), leaving out our own INFO calls."""
        assert self._redis is not None
        stats = self._redis.info("commandstats")
        return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()
                if name != "cmdstat_info"}

    def db_writes(self) -> dict[str, int]:
        """Rows inserted + updated per app table, as PostgreSQL's statistics show them now.

        Backends publish their counts when they go idle, at most once a second; one that was
        busy within the last second publishes 10 s later (PGSTAT_IDLE_INTERVAL), so wait
        `settle` seconds after the last write before reading (see stream.py)."""
        assert self._monitor is not None
        self._monitor.execute("SELECT pg_stat_force_next_flush()")
        rows = self._monitor.execute(
            "SELECT relname, n_tup_ins + n_tup_upd FROM pg_stat_user_tables").fetchall()
        return {name: int(n) for name, n in rows if name.startswith(APP_TABLE_PREFIXES)}

    def log_errors(self, offsets: dict[str, int] | None = None) -> tuple[dict[str, int], list[str]]:
        """Error lines logged by the stack since `offsets` (log sizes); returns new offsets."""
        offsets = dict(offsets or {})
        found: list[str] = []
        for proc in self.procs:
            if proc.name in ("redis", "upstream"):
                continue
            data = proc.log.read_bytes() if proc.log.exists() else b""
            start = offsets.get(proc.name, 0)
            for line in data[start:].decode(errors="replace").splitlines():
                # Text logs, Celery's own, and the JSON lines production logging writes.
                if any(mark in line for mark in (" ERROR ", " CRITICAL ", "Traceback",
                                                 "ERROR/", "CRITICAL/", '"level": "ERROR"',
                                                 '"level": "CRITICAL"')):
                    found.append(f"{proc.name}: {line.strip()[:300]}")
            offsets[proc.name] = len(data)
        return offsets, found

    def rss(self) -> dict[str, float]:
        return {p.name: round(r, 1) for p in self.procs if (r := rss_mb(p.pid)) is not None}

    # -- tear-down -----------------------------------------------------------------------
    def close(self) -> None:
        """Stops every process (TERM, then KILL), drops the database, removes the workdir."""
        for proc in reversed(self.procs):
            if proc.alive():
                _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in reversed(self.procs):
            try:
                proc.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.popen.wait(timeout=10)
        if self._monitor is not None:
            self._monitor.close()
        if "django" in sys.modules:
            from django.db import connections

            connections.close_all()
        if self.database:
            with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
            self.database = None
        if not self.redis_private and self._redis is not None:
            self._redis.flushdb()
        if not self.keep_logs:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _signal_group(proc: Proc, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def _wait(ready: Callable[[], object], what: str, timeout: float,
          stack: BenchStack | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if ready():
                return
        except Exception:
            pass
        if stack is not None:
            stack.check_alive()
        time.sleep(0.1)
    procs = stack.procs if stack else []
    logs = "\n".join(f"--- {p.name}\n{p.log_text()[-2000:]}" for p in procs)
    raise RuntimeError(f"{what} did not become ready in {timeout:.0f} s\n{logs}")
