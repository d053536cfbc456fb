#!/usr/bin/env python
"""History export and import: speed and peak memory at two sizes (bench/README.md, issue #20).

For each database (SQLite always; PostgreSQL with --postgres URL) and each size, a fresh
database is migrated and filled with one person's history (conversations of --per messages);
then every measurement runs in its own process, so its peak RSS is its own:

- `export`: the whole history as Chatlab JSON, written to /dev/null;
- `import`: that JSON file imported for another person (as the import job does it).

`new` is the code in this checkout; `old` is the same two modules as they were before issue
#20 (`git show BASE:...`, loaded beside the new ones), when --old BASE is given.

    .venv/bin/python bench/history_io.py --sizes 10000 100000 --old 246e662 \
        --postgres postgres://postgres@127.0.0.1:5432/postgres --json

Each line of the table: database, size, side, phase, seconds, messages/s, peak RSS above the
process's own after start-up (MB). With --json the last line is one JSON list of those rows.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OLD_MODULES = ("conversations/services/history_export.py",
               "conversations/services/history_import.py")


# Production settings want a long key; nothing is signed that outlives the run.
SECRET = "bench-history-io-" + "x" * 48


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


def _django(url: str) -> None:
    os.environ.update(DATABASE_URL=url, SECRET_KEY=SECRET, ALLOWED_HOSTS="localhost",
                      CHATLAB_IMPORT_MAX_BYTES=str(2**40),
                      CHATLAB_IMPORT_MAX_CONVERSATIONS="1000000")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatlab_site.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def _old_module(old_dir: Path, path: str) -> Any:
    # Loaded as a sibling of the new module, so its relative imports resolve as they did.
    name = "conversations.services._old_" + Path(path).stem
    spec = importlib.util.spec_from_file_location(name, old_dir / path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _fill(size: int, per: int) -> None:
    from django.utils import timezone

    from conversations.models import Bot, Conversation, Message
    from tests.factories import BotFactory, UserFactory

    owner = UserFactory(email="owner@example.com")
    UserFactory(email="importer@example.com")
    bot = Bot.objects.filter(slug="demo").first() or BotFactory(slug="demo")
    now = timezone.now()
    for start in range(0, size, 10_000):
        conversations = [Conversation(owner=owner, bot=bot, title=f"chat {n}")
                         for n in range(start // per, (start + 10_000) // per)]
        Conversation.objects.bulk_create(conversations)
        messages = []
        for c in conversations:
            question = None
            for i in range(per):
                m = Message(id=uuid.uuid4(), conversation=c, role="user" if i % 2 == 0 else
                            "assistant", content=f"Message {i}: " + "some words of a reply " * 12,
                            reply_to=question if i % 2 else None)
                question = m if i % 2 == 0 else question
                messages.append(m)
        Message.objects.bulk_create(messages, batch_size=2000)
    Conversation.objects.filter(owner=owner).update(created_at=now, updated_at=now)


def _child(args: argparse.Namespace) -> dict[str, Any]:
    _django(args.url)
    from accounts.models import User
    from conversations.models import Message
    from conversations.services import history_export, history_import

    export, importer = history_export, history_import
    if args.side == "old":
        export = _old_module(Path(args.old_dir), OLD_MODULES[0])
        importer = _old_module(Path(args.old_dir), OLD_MODULES[1])
    if args.phase == "fill":
        _fill(args.size, args.per)
        return {}
    owner = User.objects.get(email="owner@example.com")
    importer_user = User.objects.get(email="importer@example.com")
    Message.objects.filter(pk=None).exists()  # the connection is open before the baseline
    baseline = _rss_mb()
    started = time.perf_counter()
    if args.phase == "export":
        with open(args.file, "wb") as out:
            if args.side == "new":
                for chunk in export.encoded(export.export_json_chunks(export.exportable(owner))):
                    out.write(chunk)
            else:
                out.write(export.export_json(export.exportable(owner)).encode())
    elif args.side == "new":
        with open(args.file, "rb") as f:
            importer.import_file(user=importer_user, file=f)
    else:
        with open(args.file, "rb") as f:
            importer.import_bytes(user=importer_user, raw=f.read())
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 2), "per_second": round(args.size / seconds),
            "peak_mb": round(_rss_mb() - baseline, 1)}


def _run_child(url: str, **options: Any) -> dict[str, Any]:
    argv = [sys.executable, __file__, "--child", "--url", url]
    for key, value in options.items():
        argv += [f"--{key.replace('_', '-')}", str(value)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=ROOT)
    if done.returncode:
        raise SystemExit(f"{options}: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _databases(args: argparse.Namespace, tmp: Path) -> list[tuple[str, str, Any]]:
    found: list[tuple[str, str, Any]] = []
    for size in args.sizes:
        found.append(("sqlite", f"sqlite:///{tmp}/bench-{size}.sqlite3", None))
    if args.postgres:
        import psycopg

        base = args.postgres.rsplit("/", 1)[0]
        for size in args.sizes:
            name = f"chatlab_bench_hio_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(args.postgres, autocommit=True) as admin:
                admin.execute(f'CREATE DATABASE "{name}"')
            found.append(("postgresql", f"{base}/{name}", name))
    return found


def _drop(admin_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--per", type=int, default=20, help="messages per conversation")
    parser.add_argument("--postgres", default="", help="an admin URL: bench databases are made")
    parser.add_argument("--old", default="", help="a commit whose modules are the `old` side")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    for name in ("url", "side", "phase", "file", "old-dir"):
        parser.add_argument(f"--{name}", default="", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args)))
        return 0
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="chatlab-bench-hio-") as tmp_name:
        tmp = Path(tmp_name)
        sides = ["new"]
        if args.old:
            for path in OLD_MODULES:
                target = tmp / "old" / path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(subprocess.run(["git", "show", f"{args.old}:{path}"], cwd=ROOT,
                                                  capture_output=True, check=True).stdout)
            sides.append("old")
        databases = _databases(args, tmp)
        try:
            for (vendor, url, _name), size in zip(databases, args.sizes * 2, strict=False):
                migrate = subprocess.run(
                    [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, check=False,
                    capture_output=True, text=True,
                    env={**os.environ, "DATABASE_URL": url, "SECRET_KEY": SECRET,
                         "ALLOWED_HOSTS": "localhost"})
                if migrate.returncode:
                    raise SystemExit(migrate.stderr[-2000:])
                _run_child(url, side="new", phase="fill", size=size, per=args.per)
                for side in sides:
                    file = tmp / f"export-{vendor}-{size}-{side}.json"
                    for phase in ("export", "import"):
                        source = tmp / f"export-{vendor}-{size}-new.json"
                        result = _run_child(url, side=side, phase=phase, size=size,
                                            file=file if phase == "export" else source,
                                            old_dir=tmp / "old")
                        row = {"database": vendor, "messages": size, "side": side,
                               "phase": phase, **result}
                        rows.append(row)
                        print(f"{vendor:10} {size:>8} {side:4} {phase:7} {row['seconds']:>8} s "
                              f"{row['per_second']:>8} msg/s {row['peak_mb']:>8} MB", flush=True)
        finally:
            for vendor, _url, name in databases:
                if vendor == "postgresql":
                    _drop(args.postgres, name)
    if args.json:
        print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
