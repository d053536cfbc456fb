"""bench/data.py builds its data set and times every read at a tiny size, so it cannot rot.

No thresholds: the figures depend on the machine (bench/README.md, "Data at scale")."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg

from tests.conftest import require
from tests.stack import POSTGRES_URL, postgres_available

ROOT = Path(__file__).resolve().parent.parent.parent


def test_the_data_bench_builds_times_and_explains(tmp_path: Path) -> None:
    require(postgres_available(), "bench/data.py needs PostgreSQL")
    name = f"chatlab_bench_smoke_{uuid.uuid4().hex[:8]}"
    done = subprocess.run(
        [sys.executable, "bench/data.py", "--messages", "2000", "--users", "10",
         "--big-conversations", "50", "--long-messages", "100", "--runs", "2",
         "--database", name, "--plans", str(tmp_path), "--drop", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
    )
    assert done.returncode == 0, done.stderr[-5000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert 1500 <= result["messages"] <= 2600
    figures = result["figures"]
    for who in ("big", "mid", "ordinary"):
        for read in ("search common_en", "search mid_ru_two", "search rare_en", "usage_today",
                     "sidebar", "api list deep page"):
            figure = figures[f"{read} ({who})"]
            assert 0 < figure["p50_ms"] <= figure["p95_ms"] and figure["queries"] >= 1
    plans = {p.name: p.read_text() for p in tmp_path.glob("*.txt")}
    assert "usage_today_big.txt" in plans and "Execution Time" in plans["usage_today_big.txt"]
    with psycopg.connect(POSTGRES_URL) as conn:
        left = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
    assert left is None  # --drop removed it
