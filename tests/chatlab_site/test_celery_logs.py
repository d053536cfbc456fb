"""Celery's own task lines in a real worker (issue #17, item 15): "received", "succeeded" and
"raised" carry the task's arguments and return value, in the message and in the record's `data`
(which the JSON formatter writes out). What people wrote, a conversation's title or a messenger
update, must not reach the logs through them: the README promises its length at most."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import Any

from tests.conftest import require
from tests.fakes.openai_server import Behaviour, FakeOpenAI
from tests.stack import redis_available, stack

TITLE = "Geheime Zwiebelsuppe Rezept"
UPDATE_TEXT = "my private words to the bot"

SETUP = """
from accounts.models import User
from conversations.models import Bot, Conversation, Message, Provider
provider = Provider.objects.create(name="Fake", kind="openai", base_url={url!r},
                                   api_key="sk-e2e-key", timeout=5, max_retries=0)
bot = Bot.objects.create(slug="gpt", name="GPT", provider=provider, model="gpt-4o-mini")
user = User.objects.create_user("logs@example.com", "x-logs-password-1")
c = Conversation.objects.create(owner=user, bot=bot, title="How do I make onion soup?")
asked = Message.objects.create(conversation=c, role="user", content="How do I make onion soup?")
Message.objects.create(conversation=c, role="assistant", reply_to=asked, status="complete",
                       content="Slowly, with butter.")
print(c.pk)
"""


def _wait_for(predicate: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := predicate():
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _send(redis_url: str, name: str, args: list[Any]) -> None:
    from celery import current_app

    with current_app.connection_for_write(redis_url) as connection:
        current_app.send_task(name, args=args, queue="chat", connection=connection)


def test_task_lines_carry_no_return_value_or_arguments(tmp_path, fake_openai_server: FakeOpenAI):
    require(redis_available(), "Redis is not running on 127.0.0.1:6379")
    fake_openai_server.reset()
    fake_openai_server.script(Behaviour(text=TITLE))
    with stack(tmp_path, postgres=False, redis=True, CHATLAB_LOG_FORMAT="json") as s:
        conversation = s.shell(SETUP.format(url=fake_openai_server.url)).strip().splitlines()[-1]
        s.celery_worker(queues="chat")
        _send(s.env["REDIS_URL"], "conversations.tasks.title_conversation", [conversation])
        # Not a valid update: the task fails, and the failure line names its arguments.
        _send(s.env["REDIS_URL"], "integrations.tasks.handle_inbound", [{"text": UPDATE_TEXT}])

        def title() -> str:
            with sqlite3.connect(tmp_path / "data" / "chatlab.sqlite3") as db:
                return db.execute("SELECT title FROM conversations_conversation").fetchone()[0]

        assert _wait_for(lambda: title() == TITLE, "the title")
        log = _wait_for(lambda: (text := s.log("worker")).count(" succeeded in ") >= 1
                        and "handle_inbound" in text and " raised " in text and text,
                        "the task lines")
    assert "title_conversation" in log and "received" in log  # the lines are still there
    assert TITLE not in log and "Zwiebelsuppe" not in log
    assert UPDATE_TEXT not in log


def test_the_trace_path_logs_no_return_value(caplog, settings):
    # Any task, in the process's own logging set-up (settings.LOGGING), through Celery's tracer.
    from celery import Celery

    app = Celery("trace-test", set_as_current=False)
    app.conf.task_always_eager = True

    @app.task(name="tests.echo")
    def echo(text: str) -> str:
        return text

    with caplog.at_level("INFO", logger="celery.app.trace"):
        assert echo.apply(args=[UPDATE_TEXT]).get() == UPDATE_TEXT
    lines = [r for r in caplog.records if r.name == "celery.app.trace"]
    assert lines and all(UPDATE_TEXT not in r.getMessage() for r in lines)
    assert all(UPDATE_TEXT not in str(getattr(r, "data", "")) for r in lines)
    assert lines[-1].getMessage().startswith("Task tests.echo[")
    assert " succeeded in " in lines[-1].getMessage()
