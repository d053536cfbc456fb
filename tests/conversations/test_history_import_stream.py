"""Imports stream (issue #20): memory flat in the file's size, each row written once, the upload
copied to storage a chunk at a time."""

import json
import math
import tracemalloc

import pytest
from django.core.files.uploadedfile import TemporaryUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations.models import Conversation, ImportJob, Message
from conversations.services.history_import import import_bytes, import_job_create
from conversations.services.history_rows import ROWS_PER_BATCH

WHEN = "2026-01-01T00:00:{:02d}+00:00"


def chatlab_file(conversations: int, per_conversation: int) -> bytes:
    def message(i: int) -> dict:
        return {"role": "user" if i % 2 == 0 else "assistant", "content": f"message {i} " * 8,
                "created_at": WHEN.format(i % 60), "reply_to": i - 1 if i % 2 else None}

    item = {"title": "t", "bot": "demo", "created_at": WHEN.format(0),
            "updated_at": WHEN.format(1), "messages": [message(i) for i in range(per_conversation)]}
    return json.dumps({"format": "chatlab", "version": 1,
                       "conversations": [item] * conversations}).encode()


def test_each_row_is_written_once_by_batched_inserts(user, demo_bot):
    raw = chatlab_file(3, 1500)
    with CaptureQueriesContext(connection) as queries:
        assert import_bytes(user=user, raw=raw) == (3, 0)
    statements = [q["sql"].lstrip().upper() for q in queries.captured_queries]
    message_table = Message._meta.db_table.upper()
    assert not [s for s in statements if s.startswith("UPDATE")]
    inserts = [s for s in statements if s.startswith(f'INSERT INTO "{message_table}"')]
    # One executemany per batch of rows (the batches split at conversation boundaries).
    assert len(inserts) <= math.ceil(4500 / ROWS_PER_BATCH) + 1
    assert Message.objects.filter(conversation__owner=user).count() == 4500
    # The file's times are kept, by the one INSERT.
    first = Message.objects.filter(conversation__owner=user).order_by("created_at").first()
    assert first.created_at.isoformat() == WHEN.format(0) == first.updated_at.isoformat()
    replies = Message.objects.filter(conversation__owner=user, role="assistant")
    assert replies.filter(reply_to__role="user").count() == replies.count() == 2250


def peak_while_importing(user, raw: bytes) -> int:
    tracemalloc.start()
    try:
        import_bytes(user=user, raw=raw)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_an_import_holds_a_batch_in_memory_not_the_file(user, demo_bot, settings):
    settings.CHATLAB_IMPORT_MAX_CONVERSATIONS = 10_000
    small, large = chatlab_file(600, 6), chatlab_file(2400, 6)
    peak_while_importing(user, chatlab_file(1, 2))  # the first import loads what it needs
    small_peak = peak_while_importing(user, small)
    large_peak = peak_while_importing(user, large)
    assert len(large) > 3.9 * len(small)
    assert large_peak < 1.5 * small_peak, (small_peak, large_peak)
    assert Conversation.objects.filter(owner=user).count() == 3001


def test_an_upload_is_stored_a_chunk_at_a_time(user, demo_bot, django_capture_on_commit_callbacks):
    body = chatlab_file(3000, 10)
    upload = TemporaryUploadedFile("history.json", "application/json", len(body), None)
    upload.write(body)
    upload.seek(0)
    del body
    tracemalloc.start()
    try:
        job = import_job_create(user=user, upload=upload)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert upload.size > 5_000_000 and peak < 2_000_000, peak
    assert job.file.size == upload.size
    job.file.delete(save=False)
    upload.close()


@pytest.mark.parametrize("raw, reason", [
    (b'{"format": "chatlab", "version": 1, "conversations": [], "conversations.item": {}}',
     "no list of conversations"),
    (b'\xef\xbb\xbf[{"mapping": {}}, 5]', "neither"),
    (b'["\xff"]', "not UTF-8"),
    (b"[" * 300 + b"]" * 300, "nested"),
])
def test_odd_files_are_refused_before_anything_is_written(user, demo_bot, raw, reason):
    from conversations.services.errors import ChatError

    with pytest.raises(ChatError) as refused:
        import_bytes(user=user, raw=raw)
    assert reason in refused.value.message
    assert not Conversation.objects.exists() and not ImportJob.objects.exists()
