"""History commands: search, rename, pin, archive, trash and restore, export all, import.

`chatlab import FILE` uploads a Chatlab export or ChatGPT's conversations.json and follows the
server's import job with one progress line until it is done.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.table import Table

from . import config, render
from .api import ApiError, HistoryClient

POLL_SECONDS = 0.5
WAIT_SECONDS = 3600


def _client() -> HistoryClient:
    settings = config.load()
    return HistoryClient(settings.server, settings.token)


def _marked(html: str) -> str:
    """The server's HTML-safe highlight as rich markup: <mark> becomes bold, entities undone."""
    import html as html_lib

    from rich.markup import escape

    parts = re.split(r"(</?mark>)", html or "")
    out, bold = [], False
    for part in parts:
        if part in ("<mark>", "</mark>"):
            bold = part == "<mark>"
            continue
        text = escape(html_lib.unescape(part))
        out.append(f"[bold yellow]{text}[/bold yellow]" if bold and text else text)
    return "".join(out)


def cmd_search(args: argparse.Namespace) -> int:
    with _client() as client:
        page = client.conversations(search=" ".join(args.words), page=args.page)
    if not page["results"]:
        render.console.print("Nothing found.")
        return 0
    table = Table(box=None, header_style="bold")
    for column in ("id", "title", "match"):
        table.add_column(column, no_wrap=column == "id")
    for c in page["results"]:
        table.add_row(c["id"], _marked(c.get("title_highlight") or c["title"]),
                      _marked(c.get("highlight", "")))
    render.console.print(table)
    return 0


def _update(**changes: Any) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        extra = {"title": " ".join(args.title)} if getattr(args, "title", None) else {}
        with _client() as client:
            c = client.conversation_update(args.id, **changes, **extra)
        state = [s for s, on in (("pinned", c["pinned"]), ("archived", c["archived"])) if on]
        render.console.print(f"{c['id']}  {c['title'] or '(untitled)'}"
                             f"{'  (' + ', '.join(state) + ')' if state else ''}", markup=False)
        return 0
    return run


def cmd_delete(args: argparse.Namespace) -> int:
    with _client() as client:
        client.conversation_delete(args.id)
    render.console.print(f"Moved to the trash. Undo: chatlab restore {args.id}", markup=False)
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    with _client() as client:
        c = client.conversation_restore(args.id)
    render.console.print(f"Restored: {c['title'] or '(untitled)'}", markup=False)
    return 0


def cmd_trash(args: argparse.Namespace) -> int:
    with _client() as client:
        items = client.trash()
    if not items:
        render.console.print("The trash is empty.")
        return 0
    table = Table(box=None, header_style="bold")
    for column in ("id", "title", "deleted"):
        table.add_column(column, no_wrap=column != "title")
    for c in items:
        table.add_row(c["id"], c["title"] or "(untitled)", render.when(c["deleted_at"]))
    render.console.print(table)
    return 0


def _export_progress(received: int) -> None:
    sys.stderr.write(f"\rExporting: {received / 1_000_000:.1f} MB".ljust(30))
    sys.stderr.flush()


def cmd_export_all(args: argparse.Namespace) -> int:
    # Written to stdout as it arrives, so a large history never sits whole in memory; the
    # progress line goes to stderr, out of the way of `chatlab export-all > file`.
    sys.stdout.flush()
    with _client() as client:
        size = client.export_to(sys.stdout.buffer, None, "json" if args.json else "markdown",
                                progress=_export_progress)
    sys.stdout.buffer.flush()
    sys.stderr.write(f"\rExported {size / 1_000_000:.1f} MB.".ljust(30) + "\n")
    return 0


def _progress(job: dict[str, Any]) -> None:
    total, done = job.get("total") or 0, job.get("done") or 0
    line = (f"\rImporting {job['filename']}: {done}/{total} conversations ({job['status']})"
            if total else f"\rImporting {job['filename']}: {job['status']}…")
    sys.stderr.write(line.ljust(60))
    sys.stderr.flush()


def cmd_import(args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        upload = path.open("rb")  # httpx sends it a piece at a time
    except OSError as exc:
        raise ApiError(f"cannot read {path}: {exc.strerror or exc}", code="file") from None
    with _client() as client, upload:
        job = client.import_file(path.name, upload)
        started = time.monotonic()
        while job["status"] in ("queued", "running"):
            _progress(job)
            if time.monotonic() - started > WAIT_SECONDS:
                raise ApiError(f"The import is still running: see `chatlab import-status "
                               f"{job['id']}`.", code="timeout")
            time.sleep(POLL_SECONDS)
            job = client.import_job(job["id"])
        _progress(job)
        sys.stderr.write("\n")
    if job["status"] == "failed":
        raise ApiError(f"The import was refused: {job['error']}", code="import_refused")
    render.console.print(f"Imported {job['imported']} conversation(s)"
                         f"{', skipped ' + str(job['skipped']) + ' that could not be read' if job['skipped'] else ''}.",
                         markup=False)
    return 0


def add_parser(commands: Any) -> None:
    search = commands.add_parser("search", help="find conversations by words in titles or text")
    search.add_argument("words", nargs="+")
    search.add_argument("--page", type=int, default=1)
    search.set_defaults(run=cmd_search)

    rename = commands.add_parser("rename", help="give a conversation a new title")
    rename.add_argument("id")
    rename.add_argument("title", nargs="+")
    rename.set_defaults(run=_update())

    for name, changes, text in (("pin", {"pinned": True}, "show a conversation first"),
                                ("unpin", {"pinned": False}, "stop pinning a conversation"),
                                ("archive", {"archived": True}, "hide a conversation from the list"),
                                ("unarchive", {"archived": False}, "bring an archived one back")):
        command = commands.add_parser(name, help=text)
        command.add_argument("id")
        command.set_defaults(run=_update(**changes))

    delete = commands.add_parser("delete", help="move a conversation to the trash")
    delete.add_argument("id")
    delete.set_defaults(run=cmd_delete)
    restore = commands.add_parser("restore", help="take a conversation out of the trash")
    restore.add_argument("id")
    restore.set_defaults(run=cmd_restore)
    commands.add_parser("trash", help="what is in the trash").set_defaults(run=cmd_trash)

    export_all = commands.add_parser(
        "export-all", help="all conversations as Markdown, or --json in Chatlab's format")
    export_all.add_argument("--json", action="store_true",
                            help="Chatlab's versioned JSON (chatlab import reads it back)")
    export_all.set_defaults(run=cmd_export_all)

    imports = commands.add_parser(
        "import", help="import a Chatlab JSON export or ChatGPT's conversations.json")
    imports.add_argument("file")
    imports.set_defaults(run=cmd_import)
