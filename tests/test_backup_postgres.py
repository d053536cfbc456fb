"""PostgreSQL only: a backup taken while another connection keeps writing is one snapshot (the
dump and the manifest's counts agree, and rows written together are backed up together), and
the drill restores it into a scratch database that it drops afterwards."""

from __future__ import annotations

import threading

import psycopg
import pytest
from django.db import connection, connections, transaction

from chatlab_site.ops.backups.create import backup_create
from chatlab_site.ops.backups.drill import drill_run
from chatlab_site.ops.backups.postgres import _params
from chatlab_site.ops.backups.storage import manifest_read
from chatlab_site.ops.models import DrillRun
from conversations.models import Conversation, Message
from tests.backup_support import backup_dir  # noqa: F401
from tests.conftest import require
from tests.factories import BotFactory, UserFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres_only():
    require(connection.vendor == "postgresql",
            "needs PostgreSQL (DATABASE_URL=postgres://...)")


def _scratch_databases() -> list[str]:
    from django.conf import settings

    with psycopg.connect(**_params(), autocommit=True) as admin:
        return [row[0] for row in admin.execute(
            "SELECT datname FROM pg_database WHERE starts_with(datname, %s)",
            [settings.CHATLAB_BACKUP_DRILL_DATABASE_PREFIX])]


def test_a_backup_under_live_writes_is_one_snapshot(backup_dir, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    owner, bot = UserFactory(), BotFactory()
    base_conversations, base_messages = Conversation.objects.count(), Message.objects.count()
    stop, written, first = threading.Event(), [0], threading.Event()

    def writer() -> None:
        try:
            while not stop.is_set():
                # A conversation and its message in one transaction: any consistent snapshot
                # holds both or neither.
                with transaction.atomic():
                    conversation = Conversation.objects.create(owner=owner, bot=bot, title="live")
                    Message.objects.create(conversation=conversation, role="user",
                                           content="written during the backup")
                written[0] += 1
                first.set()
                # Paced, so the backup's own thread is not starved of the GIL.
                stop.wait(0.002)
        finally:
            connections.close_all()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert first.wait(10)
        at_start = written[0]
        result = backup_create(include_media=False)
        during = written[0] - at_start
    finally:
        stop.set()
        thread.join(10)
    assert during > 0, "the writer was idle during the backup"
    tables = manifest_read(result.name)["tables"]
    in_backup = tables["conversations_conversation"] - base_conversations
    assert in_backup == tables["conversations_message"] - base_messages
    assert 0 < in_backup < written[0]  # some rows came after the snapshot, and none are half
    # The dump holds exactly what was counted: the drill restores it and compares.
    drill = drill_run(name=result.name)
    assert drill.status == DrillRun.Status.OK, drill.detail
    assert drill.rows_checked == sum(tables.values())
    assert _scratch_databases() == []


def test_the_drill_drops_its_scratch_database_when_the_restore_fails(backup_dir, settings,
                                                                      tmp_path, monkeypatch):
    from chatlab_site.ops.backups import postgres
    from chatlab_site.ops.backups.errors import BackupError

    settings.MEDIA_ROOT = str(tmp_path / "media")
    name = backup_create(include_media=False).name
    seen: list[list[str]] = []
    real_run = postgres._run

    def failing_scratch_restore(args, *, dbname=None, what):
        if dbname:
            seen.append(_scratch_databases())
            raise BackupError("pg_restore: out of disk space")
        return real_run(args, dbname=dbname, what=what)

    monkeypatch.setattr(postgres, "_run", failing_scratch_restore)
    drill = drill_run(name=name)
    assert drill.status == DrillRun.Status.FAILED and "out of disk space" in drill.detail
    assert len(seen) == 1 and len(seen[0]) == 1 and seen[0][0].startswith("chatlab_bk_drill_")
    assert _scratch_databases() == []
