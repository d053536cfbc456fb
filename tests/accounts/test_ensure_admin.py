"""`make run`'s last words: a box with the site's address and the first admin's password, on the
HOST and PORT it serves, after everything else has printed."""

import logging
import re
from pathlib import Path

import pytest
from django.core.management import call_command

from accounts.management.commands.ensure_admin import serve_url
from accounts.models import User
from chatlab_site.serve import START_UP_LOGGERS, quiet_start_up

pytestmark = pytest.mark.django_db
MAKEFILE = Path(__file__).resolve().parents[2] / "Makefile"


def test_it_boxes_the_password_with_the_port_make_run_serves_on(capsys, monkeypatch):
    monkeypatch.delenv("SITE_URL", raising=False)
    call_command("ensure_admin", host="127.0.0.1", port="8123")
    lines = capsys.readouterr().out.strip().splitlines()
    password = next(line for line in lines if "password:" in line).split()[2]
    assert User.objects.get(is_superuser=True).check_password(password)
    assert lines[0] == lines[-1] and re.fullmatch(r"\+-+\+", lines[0])
    assert all(line.startswith("| ") and line.endswith(" |") and len(line) == len(lines[0])
               for line in lines[1:-1])
    text = "\n".join(lines)
    assert "http://127.0.0.1:8123/accounts/login/" in text and ":8000" not in text

    call_command("ensure_admin", host="127.0.0.1", port="8123")
    again = capsys.readouterr().out
    assert "password:" not in again and "http://127.0.0.1:8123/" in again


def test_the_url_follows_host_port_and_site_url(monkeypatch, settings):
    monkeypatch.delenv("SITE_URL", raising=False)
    assert serve_url("0.0.0.0", "9000") == "http://127.0.0.1:9000/"
    assert serve_url("::1", "9000") == "http://[::1]:9000/"
    monkeypatch.setenv("SITE_URL", "https://chat.acme.test")
    settings.SITE_URL = "https://chat.acme.test"
    assert serve_url("0.0.0.0", "9000") == "https://chat.acme.test/"


def test_make_run_prints_the_box_last():
    run = MAKEFILE.read_text().split("\nrun:", 1)[1].split("\n\n", 1)[0]
    steps = [line.strip().lstrip("@") for line in run.splitlines()[1:]
             if not line.strip().startswith(("#", "@#"))]
    assert steps[-2] == "$(BIN)/python manage.py ensure_admin --host $(HOST) --port $(PORT)"
    assert steps[-1].startswith("$(BIN)/python -m chatlab_site.serve ") and " -v 0" in steps[-1]
    assert not any("echo" in step for step in steps)


def test_daphne_starts_quietly_with_v_0():
    loggers = [logging.getLogger(name) for name in START_UP_LOGGERS]
    before = [logger.level for logger in loggers]
    try:
        quiet_start_up(["-b", "127.0.0.1", "-v", "1"])
        assert [logger.level for logger in loggers] == before
        quiet_start_up(["-b", "127.0.0.1", "-v", "0", "--access-log", "-"])
        assert all(logger.level == logging.WARNING for logger in loggers)
    finally:
        for logger, level in zip(loggers, before):
            logger.setLevel(level)
