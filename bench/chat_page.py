#!/usr/bin/env python
"""The chat page of one long conversation: time, HTML size and RSS growth (issue #20).

A fresh SQLite database (or --postgres URL) gets one person with a conversation of each size;
the page of each is fetched through Django's test client, once to warm up, then --runs times
(median). `--code DIR` runs another checkout's code (e.g. `git archive BASE | tar -x -C DIR`)
against the same script, for a before/after table.

    .venv/bin/python bench/chat_page.py --sizes 100 1000 10000
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--code", type=Path, default=ROOT, help="the checkout whose code runs")
    parser.add_argument("--postgres", help="a PostgreSQL URL (its database is dropped after)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="chat-page-"))
    url = args.postgres or f"sqlite:///{workdir / 'bench.sqlite3'}"
    os.environ.update(DATABASE_URL=url, SECRET_KEY="bench-chat-page-" + "x" * 48,
                      ALLOWED_HOSTS="testserver", CHATLAB_DATA_DIR=str(workdir))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatlab_site.settings")
    sys.path.insert(0, str(args.code.resolve()))
    os.chdir(args.code)
    import django

    django.setup()
    from django.conf import settings

    # Static files as in development: the bench has no collectstatic manifest.
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    from django.core.management import call_command
    from django.test import Client
    from django.utils import timezone

    from accounts.models import User
    from conversations.models import Bot, Conversation, Message, Provider
    from conversations.services.history_rows import rows_insert

    call_command("migrate", verbosity=0)
    user = User.objects.create_user("bench@example.com", "a-Long-passphrase-1")
    provider = Provider.objects.create(name="Demo", kind=Provider.Kind.DEMO)
    bot = Bot.objects.create(name="Demo", slug="demo", provider=provider, model="demo",
                             is_default=True)
    client = Client()
    client.force_login(user)
    print("messages  p50 ms  HTML KB  RSS growth MB")
    for size in args.sizes:
        chat = Conversation.objects.create(owner=user, bot=bot, title=f"{size} messages")
        start = timezone.now() - timedelta(days=30)
        rows: list[dict[str, object]] = []
        for n in range(size):
            role = Message.Role.USER if n % 2 == 0 else Message.Role.ASSISTANT
            rows.append({"id": uuid.uuid4(), "conversation_id": chat.pk, "role": role,
                         # About the length of a real turn: 1.5 KB, markdown-ish.
                         "content": f"Turn {n}. " + "Some **text** of a reply. " * 60,
                         "status": Message.Status.COMPLETE,
                         "reply_to_id": rows[-1]["id"] if role == "assistant" else None,
                         "created_at": start + timedelta(seconds=n),
                         "updated_at": start + timedelta(seconds=n)})
        rows_insert(Message, rows)
        rss = _rss_mb()
        page = client.get(f"/c/{chat.pk}/", secure=True)
        assert page.status_code == 200, page.status_code
        times = []
        for _ in range(args.runs):
            began = time.perf_counter()
            client.get(f"/c/{chat.pk}/", secure=True)
            times.append((time.perf_counter() - began) * 1000)
        print(f"{size:>8}  {statistics.median(times):>6.0f}  {len(page.content) / 1024:>7.0f}"
              f"  {_rss_mb() - rss:>13.1f}")


if __name__ == "__main__":
    main()
