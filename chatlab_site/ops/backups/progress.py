"""Progress lines for the terminal: services report each step, table and file through one of
these; the management commands print them, tasks drop them."""

from __future__ import annotations

import time
from collections.abc import Callable

Progress = Callable[[str], None]


def quiet(line: str) -> None:
    return None


class StepClock:
    """Passes lines on and times the numbered steps among them ("[4/5] restore the database"),
    so a command can say how long a restore took and which step took longest."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.steps: list[tuple[str, float]] = []
        self._current: tuple[str, float] | None = None

    def __call__(self, line: str) -> None:
        if line.startswith("["):
            self.stop()
            self._current = (line, time.monotonic())
        self.progress(line)

    def stop(self) -> None:
        """Ends the running step (before waiting on a person, whose time is not the step's)."""
        if self._current is not None:
            step, started = self._current
            self.steps.append((step, time.monotonic() - started))
            self._current = None

    def summary(self) -> list[str]:
        self.stop()
        if not self.steps:
            return []
        lines = [f"  {seconds:7.2f} s  {step}" for step, seconds in self.steps]
        step, seconds = max(self.steps, key=lambda s: s[1])
        total = sum(s for _, s in self.steps)
        return ["time per step:", *lines,
                f"took {total:.2f} s; the longest step: {step} ({seconds:.2f} s)"]
