"""Progress lines for the terminal: services report each step, table and file through one of
these; the management commands print them, tasks drop them."""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str], None]


def quiet(line: str) -> None:
    return None
