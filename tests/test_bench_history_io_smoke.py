"""bench/history_io.py runs end to end at a tiny size and reports every figure.

No thresholds: the figures depend on the machine. The `old` side is loaded from HEAD here (any
commit's modules load the same way), so the test does not depend on one commit's history.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.multiprocess

ROOT = Path(__file__).resolve().parent.parent


def test_history_io_bench_reports_every_figure(tmp_path) -> None:
    done = subprocess.run(
        [sys.executable, "bench/history_io.py", "--sizes", "40", "--per", "10", "--old", "HEAD",
         "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-5000:]
    rows = json.loads(done.stdout.strip().splitlines()[-1])
    assert {(r["side"], r["phase"]) for r in rows} == {
        (side, phase) for side in ("new", "old") for phase in ("export", "import")}
    for row in rows:
        assert row["database"] == "sqlite" and row["messages"] == 40
        assert row["seconds"] > 0 and row["per_second"] > 0 and row["peak_mb"] >= 0
