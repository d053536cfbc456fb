"""Logs: the configured handlers scrub secrets and message text, write JSON or text with the
request id, and turn ERROR records into grouped ErrorEvents."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import pytest
from django.test import RequestFactory

from analytics import recorder
from analytics.log_format import JsonFormatter, MessageText, ScrubFilter, TextFormatter, scrub
from analytics.models import ErrorEvent, Kind, UsageEvent
from analytics.request_ids import (HEADER, RequestIdMiddleware, accept_request_id,
                                   current_request_id, request_id_scope)

SECRETS = [
    "sk-proj-Abc123Def456Ghi789Jkl012",
    "xoxb-1234567890-abcdefghijkl",
    "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw_x",
    "ghp_0123456789abcdefghijABCDEFGHIJ",
]


@pytest.fixture
def console():
    """The configured console handler, writing into a buffer for the test."""
    handler = next(h for h in logging.getLogger().handlers
                   if isinstance(h, logging.StreamHandler) and h.get_name() == "console")
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    yield handler, buffer
    handler.setStream(previous)


def test_secrets_never_reach_a_log_line(console):
    handler, buffer = console
    log = logging.getLogger("integrations.slack")
    log.warning("calling with key %s and %s", SECRETS[0], SECRETS[1])
    log.warning("telegram token %s, github %s", SECRETS[2], SECRETS[3])
    log.warning("headers: %s", {"Authorization": "Bearer abc.def.ghi-jkl", "X-Api-Key": "k-123"})
    log.warning("login password=hunter2-secret&api_key=zzz999 to postgres://bob:pw1234@db/x")
    try:
        raise RuntimeError(f"upstream refused {SECRETS[0]} (token: {SECRETS[1]})")
    except RuntimeError:
        log.exception("provider failed")
    text = buffer.getvalue()
    for secret in [*SECRETS, "abc.def.ghi-jkl", "k-123", "hunter2-secret", "zzz999", "pw1234"]:
        assert secret not in text
    assert text.count("[redacted]") >= 9
    assert "Traceback" in text and "RuntimeError: upstream refused [redacted]" in text
    assert "postgres://bob:[redacted]@db/x" in text


def test_message_text_is_logged_as_its_length_unless_switched_on():
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ScrubFilter(message_text=False))
    log = logging.getLogger("tests.message_text")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("got %s", MessageText("my diagnosis is private"),
                    extra={"content": "also private", "reply_id": 7})
        entry = json.loads(buffer.getvalue().splitlines()[-1])
        assert entry["message"] == "got [text: 23 chars]"
        assert entry["content"] == "[redacted]" and entry["reply_id"] == 7
        handler.filters = [ScrubFilter(message_text=True)]
        log.warning("got %s", MessageText("now visible"), extra={"content": "visible too"})
        entry = json.loads(buffer.getvalue().splitlines()[-1])
        assert entry["message"] == "got now visible" and entry["content"] == "visible too"
    finally:
        MessageText.show = False
        log.removeHandler(handler)


def test_json_lines_carry_the_request_id():
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ScrubFilter())
    log = logging.getLogger("tests.json")
    log.addHandler(handler)
    log.propagate = False
    try:
        with request_id_scope("req-json-0001"):
            log.info("hello %s", "there")
        log.info("outside")
    finally:
        log.removeHandler(handler)
    first, second = (json.loads(line) for line in buffer.getvalue().splitlines())
    assert first["request_id"] == "req-json-0001" and first["message"] == "hello there"
    assert first["level"] == "INFO" and first["logger"] == "tests.json" and "time" in first
    assert second["request_id"] == "-"
    record = logging.makeLogRecord({"msg": "x", "levelname": "INFO", "name": "n"})
    ScrubFilter().filter(record)
    assert "[-]: x" in TextFormatter().format(record)


def test_a_sane_request_id_is_kept_and_anything_else_replaced():
    assert accept_request_id("abc-123.XYZ:9") == "abc-123.XYZ:9"
    for bad in ("", "short", "bad id with spaces", "x" * 65, "inject\nline", "<script>alert"):
        made = accept_request_id(bad)
        assert made != bad and len(made) == 32


def test_the_middleware_sets_and_returns_the_id_in_sync_and_async_mode():
    seen = []

    def view(request):
        seen.append(current_request_id())
        from django.http import HttpResponse
        return HttpResponse("ok")

    async def async_view(request):
        seen.append(current_request_id())
        from django.http import HttpResponse
        return HttpResponse("ok")

    factory = RequestFactory()
    response = RequestIdMiddleware(view)(factory.get("/", HTTP_X_REQUEST_ID="given-id-0001"))
    assert response[HEADER] == "given-id-0001" and seen[-1] == "given-id-0001"
    response = RequestIdMiddleware(view)(factory.get("/", HTTP_X_REQUEST_ID="no good"))
    assert response[HEADER] == seen[-1] and seen[-1] != "no good"
    response = asyncio.run(RequestIdMiddleware(async_view)(
        factory.get("/", HTTP_X_REQUEST_ID="async-id-0001")))
    assert response[HEADER] == "async-id-0001" and seen[-1] == "async-id-0001"
    assert current_request_id() == ""


@pytest.mark.django_db
def test_a_page_answers_with_its_request_id(client):
    response = client.get("/accounts/login/", HTTP_X_REQUEST_ID="login-page-42")
    assert response.status_code == 200 and response[HEADER] == "login-page-42"
    assert len(client.get("/accounts/login/")[HEADER]) == 32


@pytest.mark.django_db
def test_errors_are_grouped_by_fingerprint():
    log = logging.getLogger("chatlab_site.ops.backups")

    def fail(n: int) -> None:
        try:
            raise OSError(f"disk full on run {n} with password=topsecret{n}")
        except OSError:
            log.exception("backup %s failed", n)

    with request_id_scope("first-request-1"):
        fail(1)
    fail(2)
    with request_id_scope("third-request-3"):
        fail(3)
    log.error("backup target %s unreachable", "s3://bucket")  # another message: another group
    logging.getLogger("conversations.services.generation").info("not an error")
    assert recorder.flush() == 4
    grouped, other = ErrorEvent.objects.order_by("-count")
    assert grouped.count == 3 and other.count == 1
    assert grouped.logger == "chatlab_site.ops.backups"
    assert grouped.exception == "builtins.OSError"
    assert grouped.location == "tests/test_analytics_logs.py:fail"
    assert grouped.message == "backup 3 failed" and grouped.last_request_id == "third-request-3"
    assert "OSError: disk full on run 3" in grouped.traceback
    assert "topsecret" not in grouped.traceback and "[redacted]" in grouped.traceback
    assert grouped.first_seen < grouped.last_seen
    assert other.message == "backup target s3://bucket unreachable" and other.traceback == ""
    assert UsageEvent.objects.filter(kind=Kind.ERROR).count() == 4
    # Later occurrences add to the same row.
    fail(4)
    recorder.flush()
    assert ErrorEvent.objects.get(pk=grouped.pk).count == 4


@pytest.mark.django_db
def test_a_failure_to_write_is_logged_and_dropped(monkeypatch, caplog):
    from analytics import recorder as module

    def broken(*args, **kwargs):
        raise RuntimeError("database is away")

    monkeypatch.setattr(module, "_write_errors", broken)
    logging.getLogger("accounts.services").error("something broke")
    with caplog.at_level(logging.WARNING, logger="analytics.recorder"):
        assert recorder.flush() == 0
    assert "could not write 1 analytics records" in caplog.text
    assert recorder.pending() == 0 and not ErrorEvent.objects.exists()
    # Its own warning never feeds the error log.
    logging.getLogger("analytics.recorder").error("would loop")
    assert recorder.pending() == 0


def test_a_scrubbed_string_keeps_ordinary_text():
    text = "reply 5f1 finished in 1200 ms for bot gpt (tokens 12)"
    assert scrub(text) == text


def test_a_websocket_connection_runs_with_its_request_id():
    from analytics.request_ids import RequestIdASGIMiddleware

    seen = []

    async def consumer(scope, receive, send):
        seen.append(current_request_id())

    async def connect(headers):
        await RequestIdASGIMiddleware(consumer)({"type": "websocket", "headers": headers},
                                                None, None)

    asyncio.run(connect([(b"x-request-id", b"socket-id-0001")]))
    asyncio.run(connect([(b"x-request-id", b"bad id")]))
    assert seen[0] == "socket-id-0001" and len(seen[1]) == 32
    assert current_request_id() == ""


def test_a_coroutine_on_the_workers_shared_loop_keeps_the_tasks_request_id():
    from conversations.worker_loop import run_on_shared_loop

    async def inner():
        await asyncio.sleep(0)
        spawned = asyncio.create_task(asyncio.sleep(0, result=current_request_id()))
        return current_request_id(), await spawned

    with request_id_scope("task-id-0001"):
        assert run_on_shared_loop(inner(), timeout=5) == ("task-id-0001", "task-id-0001")
    assert run_on_shared_loop(inner(), timeout=5) == ("", "")
