"""The embedded mode (SQLite) under a burst: one daphne started as `make run` starts it, with
image jobs and messages arriving at once from several clients. Every request must be answered
without a 5xx and every job and message stored: SQLite's "database is locked" is a bug here."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.stack import Stack, stack

pytestmark = pytest.mark.multiprocess

CLIENTS = 4
IMAGE_JOBS = 40
MESSAGES = 24

SETUP = """
import json
from accounts.models import User
from accounts.services.tokens import api_token_create
tokens = []
for n in range({clients}):
    user = User.objects.create_superuser(f"burst-{{n}}@example.com", "x-burst-password-1")
    tokens.append(api_token_create(user=user, name="burst")[1])
print(json.dumps(tokens))
"""


@dataclass
class Embedded:
    s: Stack
    url: str
    tokens: list[str]
    database: Path


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Embedded]:
    tmp = tmp_path_factory.mktemp("sqlite-burst")
    # Instant demo replies: their final saves land in the same second as the next requests.
    with stack(tmp, postgres=False, redis=False, CHATLAB_DEMO_TOKENS_PER_SECOND="0") as s:
        tokens = json.loads(s.shell(SETUP.format(clients=CLIENTS)).strip().splitlines()[-1])
        url = s.daphne()
        try:
            yield Embedded(s, url, tokens, tmp / "data" / "chatlab.sqlite3")
        finally:
            print(s.logs())


def _client(embedded: Embedded, n: int) -> httpx.Client:
    return httpx.Client(base_url=embedded.url, timeout=60,
                        headers={"Authorization": f"Bearer {embedded.tokens[n % CLIENTS]}"})


def _count(database: Path, sql: str) -> int:
    with sqlite3.connect(database, timeout=30) as db:
        return db.execute(sql).fetchone()[0]


def test_a_burst_of_image_jobs_and_messages_is_all_answered_and_stored(embedded: Embedded):
    def image(n: int) -> tuple[int, str]:
        with _client(embedded, n) as client:
            answer = client.post("/api/v1/images/jobs/",
                                 json={"prompt": f"a lighthouse, take {n}", "model": "demo"})
            return answer.status_code, answer.text

    def message(n: int) -> tuple[int, str]:
        # A conversation of its own: one conversation takes one message at a time (by design).
        with _client(embedded, n) as client:
            answer = client.post("/api/v1/conversations/", json={"bot": "demo"})
            if answer.status_code != 201:
                return answer.status_code, answer.text
            answer = client.post(f"/api/v1/conversations/{answer.json()['id']}/messages/",
                                 json={"content": f"hello number {n}",
                                       "client_id": str(uuid.uuid4())})
            return answer.status_code, answer.text

    with ThreadPoolExecutor(max_workers=16) as pool:
        futures = [pool.submit(image, n) for n in range(IMAGE_JOBS)]
        futures += [pool.submit(message, n) for n in range(MESSAGES)]
        answers = [f.result() for f in futures]

    failures = [(code, text[:300]) for code, text in answers if code != 202]
    assert not failures, f"{len(failures)} of {len(answers)} requests failed: {failures[:5]}"
    assert _count(embedded.database, "SELECT count(*) FROM imaging_imagejob") == IMAGE_JOBS
    assert _count(embedded.database, "SELECT count(*) FROM conversations_message "
                                     "WHERE role = 'user'") == MESSAGES
    # And every job and reply ran to its end (the demo bot and drawing need no network).
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if _count(embedded.database, "SELECT count(*) FROM imaging_imagejob "
                                     "WHERE status NOT IN ('done', 'failed')") == 0 and \
                _count(embedded.database, "SELECT count(*) FROM conversations_message "
                                          "WHERE status IN ('pending', 'streaming')") == 0:
            break
        time.sleep(0.5)
    assert _count(embedded.database,
                  "SELECT count(*) FROM imaging_imagejob WHERE status = 'done'") == IMAGE_JOBS
    assert _count(embedded.database, "SELECT count(*) FROM conversations_message WHERE "
                                     "role = 'assistant' AND status = 'complete'") == MESSAGES
    assert "database is locked" not in embedded.s.logs()
