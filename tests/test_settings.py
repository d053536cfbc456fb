"""Settings come from the environment and fail loudly on bad values."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION_ENV = {
    "DATABASE_URL": "postgres://chatlab:pw@db.internal:5432/chatlab",
    "REDIS_URL": "redis://redis.internal:6379/0",
    "SECRET_KEY": "k2Jx9-Lq7vTz3Wm8Rb5Nc1Yd6Hf4Gs0Pa-Ue2Io7Kl9Zx3Cv8Bn5Mq1Wr4Ty6Hj",
    "ALLOWED_HOSTS": "chat.example.com",
}


def manage(*args: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items()
             if k not in PRODUCTION_ENV and not k.startswith(("CHATLAB_", "DJANGO_"))}
    clean.update(env)
    clean["CHATLAB_DATA_DIR"] = str(tmp_path)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=clean,
        capture_output=True, text=True, timeout=120,
    )


def test_production_settings_pass_the_deploy_check(tmp_path):
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV,
                    tmp_path=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_embedded_mode_needs_no_variables(tmp_path):
    result = manage("check", env={}, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("env, complaint", [
    ({"DEBUG": "maybe"}, "DEBUG must be true or false"),
    ({"CHATLAB_MAX_MESSAGE_CHARS": "lots"}, "CHATLAB_MAX_MESSAGE_CHARS must be a whole number"),
    ({"DATABASE_URL": "mysql://x/y"}, "DATABASE_URL must be a URL starting with"),
    ({**PRODUCTION_ENV, "SECRET_KEY": ""}, "SECRET_KEY is required"),
    ({**PRODUCTION_ENV, "SECRET_KEY": "short"}, "SECRET_KEY must be at least 50 characters"),
    ({"REDIS_URL": "redis://r:6379/0", "SECRET_KEY": PRODUCTION_ENV["SECRET_KEY"]},
     "ALLOWED_HOSTS is required"),
])
def test_bad_values_stop_the_start(tmp_path, env, complaint):
    result = manage("check", env=env, tmp_path=tmp_path)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and complaint in result.stderr


def test_secrets_can_come_from_files(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text(PRODUCTION_ENV["SECRET_KEY"] + "\n")
    env = {**PRODUCTION_ENV, "SECRET_KEY": ""}
    del env["SECRET_KEY"]
    env["SECRET_KEY_FILE"] = str(secret)
    result = manage("check", env=env, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
