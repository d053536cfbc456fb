"""`python -m chatlab_site.serve [daphne options]`: daphne on uvloop.

Daphne builds its Twisted reactor on a new asyncio loop; installing uvloop's policy first makes
that loop a uvloop one, which serves many concurrent streams with less CPU. In the embedded mode
(no broker, so no celery beat) it also starts the in-process scheduler, so the backups, drills,
rollups and purges of a single-machine install run on schedule.
"""

from __future__ import annotations

import asyncio
import logging
import sys

# Whose start-up lines `-v 0` silences (warnings still show): daphne's and the scheduler's.
START_UP_LOGGERS = ("daphne", "chatlab_site.ops.embedded_beat")


def quiet_start_up(args: list[str]) -> None:
    """Daphne's `-v 0` means warnings only, but Django's LOGGING (loaded with the app) replaces
    daphne's own logging set-up: apply it to daphne's loggers again. `make run` uses it so the
    first admin's password, printed just before, stays the last thing on the screen."""
    for i, arg in enumerate(args):
        value = arg.split("=", 1)[1] if arg.startswith("--verbosity=") else (
            args[i + 1] if arg in ("-v", "--verbosity") and i + 1 < len(args) else None)
        if value == "0":
            for name in START_UP_LOGGERS:
                logging.getLogger(name).setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> None:
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:  # pragma: no cover - uvloop is installed on Linux
        pass
    from daphne.cli import CommandLineInterface

    from chatlab_site.gc_freeze import load_web_app_and_freeze

    load_web_app_and_freeze()
    args = argv if argv is not None else sys.argv[1:]
    quiet_start_up(args)
    from chatlab_site.ops.embedded_beat import embedded_beat_start

    embedded_beat_start()

    if not any(a.endswith(":application") for a in args):
        args = [*args, "chatlab_site.asgi:application"]
    CommandLineInterface().run(args)


if __name__ == "__main__":
    main()
