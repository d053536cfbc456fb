"""Turns a stream of model tokens into few, sequence-numbered frames.

The first delta goes out at once (it is what makes a reply feel fast); after it, deltas that
arrive within one window travel together. Sending happens on a task of its own, so a slow
receiver never holds up reading from the model.

A frame has two channels: the answer's text and the model's reasoning. Both share the window,
so a reasoning model costs no more frames than any other.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

# (seq, text, reasoning): either may be "" but not both.
Emit = Callable[[int, str, str], Awaitable[None]]


class Coalescer:
    def __init__(self, window_seconds: float, emit: Emit) -> None:
        self.window = window_seconds
        self.emit = emit
        self.frames: list[str] = []  # the text sent so far, one entry per frame
        self.thoughts: list[str] = []  # the reasoning sent so far, in the same frames
        self._pending: list[str] = []
        self._pending_reasoning: list[str] = []
        self._wake = asyncio.Event()
        self._closed = False
        self._last_sent = 0.0
        self._sender = asyncio.create_task(self._send_loop())

    @property
    def seq(self) -> int:
        return len(self.frames)

    def sent_text(self) -> str:
        return "".join(self.frames)

    def sent_reasoning(self) -> str:
        return "".join(self.thoughts)

    def received_text(self) -> str:
        return "".join(self.frames) + "".join(self._pending)

    def received_reasoning(self) -> str:
        return "".join(self.thoughts) + "".join(self._pending_reasoning)

    def push(self, text: str) -> None:
        if text:
            self._pending.append(text)
            self._wake.set()

    def push_reasoning(self, text: str) -> None:
        if text:
            self._pending_reasoning.append(text)
            self._wake.set()

    async def close(self) -> None:
        """Sends what is left and waits for the sender to finish."""
        self._closed = True
        self._wake.set()
        await self._sender

    def abort(self) -> None:
        self._sender.cancel()

    async def _send_loop(self) -> None:
        while True:
            await self._wake.wait()
            if self.frames and not self._closed:
                delay = self._last_sent + self.window - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            self._wake.clear()
            if self._pending or self._pending_reasoning:
                text = "".join(self._pending)
                reasoning = "".join(self._pending_reasoning)
                self._pending.clear()
                self._pending_reasoning.clear()
                self.frames.append(text)
                self.thoughts.append(reasoning)
                self._last_sent = time.monotonic()
                await self.emit(len(self.frames), text, reasoning)
            if self._closed and not self._pending and not self._pending_reasoning:
                return
