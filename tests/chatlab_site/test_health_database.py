"""/healthz against a real PostgreSQL and the production pool (a daphne process): it tells a
brief connection loss from a database that is down, and answers JSON either way."""

from __future__ import annotations

import time

import httpx
import psycopg
import pytest

from tests.conftest import require
from tests.stack import BIN, POSTGRES_URL, free_port, postgres_available, stack

# Looks like a session key, so the session middleware would look it up in the database.
SESSION_COOKIE = {"Cookie": "sessionid=k3x9q2m7v5b8n1c4z6l0p3w8t5y2r7d9"}


def _terminate_connections(database: str) -> int:
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()", [database],
        ).fetchall()
    return len(rows)


def test_it_is_healthy_on_the_next_request_after_the_connections_are_dropped(tmp_path):
    require(postgres_available(), "PostgreSQL is not reachable")
    with stack(tmp_path, postgres=True, redis=False) as s:
        url = s.daphne()
        # A probe keeps no cookies; a browser (which gets a session) loads pages beside it.
        with httpx.Client(base_url=url, timeout=10) as probe, \
                httpx.Client(base_url=url, timeout=10) as browser:
            for _ in range(3):  # the check and the pages each hold pooled connections
                assert probe.get("/healthz").status_code == 200
                assert browser.get("/").status_code == 200
            database = s.env["DATABASE_URL"].rsplit("/", 1)[1]
            assert _terminate_connections(database) >= 1

            response = probe.get("/healthz")
            assert response.status_code == 200, response.text
            assert response.json()["checks"]["database"] == "ok"
            assert probe.get("/healthz", headers=SESSION_COOKIE).status_code == 200


def test_it_answers_json_503_within_its_timeout_when_the_database_is_down(tmp_path):
    require(postgres_available(), "PostgreSQL is not reachable")
    with stack(tmp_path, postgres=True, redis=False) as s:
        # Migrated on a real database; the web process then points at a port nobody listens on.
        s.env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:{free_port()}/chatlab"
        port = free_port()
        s._spawn("web", [str(BIN / "python"), "-m", "chatlab_site.serve",
                         "-b", "127.0.0.1", "-p", str(port)])
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{url}/healthz", timeout=15)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, s.logs()
                time.sleep(0.2)

        for headers in ({}, SESSION_COOKIE):
            started = time.monotonic()
            response = httpx.get(f"{url}/healthz", headers=headers, timeout=15)
            took = time.monotonic() - started
            assert response.status_code == 503, response.text[:500]
            assert response.headers["Content-Type"] == "application/json"
            assert response.json()["down"] == ["database"]
            assert took < 5, f"{took:.1f} s"
