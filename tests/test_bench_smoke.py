"""bench/stream.py runs end to end on a tiny load and reports every figure.

No thresholds: the figures depend on the machine. This only proves that the bench starts the
stack, runs both paths, measures what it promises and cleans up after itself.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests.conftest import require
from tests.stack import POSTGRES_URL, postgres_available, redis_available

pytestmark = pytest.mark.multiprocess

ROOT = Path(__file__).resolve().parent.parent
CHATS, TOKENS = 2, 20

# Every path's figures; the web path's unprefixed, the Celery path's prefixed `celery_`.
RATIOS = ("ttft_ratio_p50", "ttft_ratio_p95", "batch_wall_ratio", "tokens_per_s_ratio")
MILLISECONDS = ("ttft_added_ms_p50", "ttft_ms_p50", "ttft_ms_p95", "direct_ttft_ms_p50",
                "to_upstream_ms_p50", "frame_gap_p99_ms")
PER_UNIT = ("ws_bytes_per_reply_byte", "redis_commands_per_token", "db_writes_per_reply")
STACK_PROCESSES = ("daphne", "redis", "postgres", "upstream", "client")


def database_exists(name: str) -> bool:
    with psycopg.connect(POSTGRES_URL) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() \
            is not None


def test_stream_bench_reports_every_figure() -> None:
    require(postgres_available() and redis_available(),
            "the streaming bench needs PostgreSQL and Redis")
    done = subprocess.run(
        [sys.executable, "bench/stream.py", "--chats", str(CHATS), "--rounds", "1",
         "--tokens", str(TOKENS), "--no-warmup", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=150,
    )
    assert done.returncode == 0, done.stderr[-5000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    # The table comes first, for people.
    assert "TTFT p50 / direct" in done.stdout

    assert (result["chats"], result["rounds"], result["tokens"]) == (CHATS, 1, TOKENS)
    for prefix in ("", "celery_"):
        figures = {k.removeprefix(prefix): v for k, v in result.items() if k.startswith(prefix)}
        assert figures["errors"] == 0, figures["error_samples"]
        for key in RATIOS:
            assert 0.2 < figures[key] < 20, (prefix + key, figures[key])
        for key in MILLISECONDS:
            assert isinstance(figures[key], float) and math.isfinite(figures[key]), key
        # The upstream waits 300 ms before its first token, on either path.
        assert figures["ttft_ms_p50"] >= 290 and figures["direct_ttft_ms_p50"] >= 290
        for key in PER_UNIT:
            assert figures[key] > 0, (prefix + key, figures[key])
        # Every reply is stored: at least the user's message and the reply itself.
        assert figures["db_writes"].get("conversations_message", 0) >= 2 * CHATS
        if prefix == "celery_":  # a worker's frames reach the sockets through the group
            assert figures["redis_commands"].get("publish", 0) >= CHATS
        cpu = figures["cpu_s_per_round"]
        assert all(name in cpu and cpu[name] >= 0 for name in STACK_PROCESSES), cpu
    assert any(name.startswith("worker") for name in result["celery_cpu_s_per_round"])
    # Nothing left behind: the database it made is gone (its processes die with it).
    made = re.search(r"database (chatlab_bench_\w+)", done.stderr)
    assert made, done.stderr[-2000:]
    assert not database_exists(made.group(1))
