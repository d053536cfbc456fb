"""`python -m chatlab_site.serve [daphne options]`: daphne on uvloop.

Daphne builds its Twisted reactor on a new asyncio loop; installing uvloop's policy first makes
that loop a uvloop one, which serves many concurrent streams with less CPU. In the embedded mode
(no broker, so no celery beat) it also starts the in-process scheduler, so the backups, drills,
rollups and purges of a single-machine install run on schedule.
"""

from __future__ import annotations

import asyncio
import sys


def main(argv: list[str] | None = None) -> None:
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:  # pragma: no cover - uvloop is installed on Linux
        pass
    from daphne.cli import CommandLineInterface

    from chatlab_site.gc_freeze import load_web_app_and_freeze

    load_web_app_and_freeze()
    from chatlab_site.ops.embedded_beat import embedded_beat_start

    embedded_beat_start()

    args = argv if argv is not None else sys.argv[1:]
    if not any(a.endswith(":application") for a in args):
        args = [*args, "chatlab_site.asgi:application"]
    CommandLineInterface().run(args)


if __name__ == "__main__":
    main()
