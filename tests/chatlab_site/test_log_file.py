"""CHATLAB_LOG_FILE: the log lines also go to a rotated file in the data folder, in the
console's format and scrubbed of secrets like every other log line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOG_LINES = """
import django
django.setup()
import logging
log = logging.getLogger("chatlab.test")
log.warning("provider said no: api_key=sk-live-abcdefghijklmnop url=postgres://u:hunter2@db/x")
for number in range(60):
    log.warning("line %s %s", number, "x" * 80)
"""


def _run(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CHATLAB_")}
    environment.update(DJANGO_SETTINGS_MODULE="chatlab_site.settings",
                       CHATLAB_DATA_DIR=str(tmp_path / "data"), **env)
    environment.pop("DATABASE_URL", None)
    environment.pop("REDIS_URL", None)
    return subprocess.run([sys.executable, "-c", LOG_LINES], cwd=ROOT,
                          env=environment, capture_output=True, text=True, timeout=120)


def test_the_log_file_is_rotated_in_the_data_folder_and_scrubbed(tmp_path):
    done = _run(tmp_path, CHATLAB_LOG_FILE="logs/chatlab.log", CHATLAB_LOG_FORMAT="json",
                CHATLAB_LOG_FILE_MAX_MB="0.002", CHATLAB_LOG_FILE_BACKUPS="2")
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "data" / "logs"
    assert sorted(p.name for p in folder.iterdir()) == [
        "chatlab.log", "chatlab.log.1", "chatlab.log.2"]
    text = "".join((folder / name).read_text() for name in ("chatlab.log.2", "chatlab.log.1",
                                                            "chatlab.log"))
    assert {name: (folder / name).stat().st_size <= 2097 for name in os.listdir(folder)} == {
        "chatlab.log": True, "chatlab.log.1": True, "chatlab.log.2": True}
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines[-1]["message"].startswith("line 59 ") and lines[-1]["logger"] == "chatlab.test"
    assert "sk-live" not in text and "hunter2" not in text
    # The same lines, the same way, on stdout.
    assert "line 59" in done.stdout and "sk-live" not in done.stdout


def test_without_the_option_no_log_file_is_written(tmp_path):
    done = _run(tmp_path)
    assert done.returncode == 0, done.stderr
    assert not list((tmp_path / "data").rglob("*.log"))


def test_a_folder_as_the_log_file_stops_the_start_with_the_reason(tmp_path):
    (tmp_path / "data" / "logs").mkdir(parents=True)
    done = _run(tmp_path, CHATLAB_LOG_FILE="logs")
    assert done.returncode != 0
    assert "CHATLAB_LOG_FILE='logs' is a folder" in done.stderr
