"""Runs an aiohttp application on its own event loop in a daemon thread, for the platform fakes.

The test's thread and the Django code under test talk to the fake over real HTTP, so the client
libraries (slack-sdk, httpx) run unchanged. Subclasses build the routes in `routes()`.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

from aiohttp import web


@dataclass
class Fault:
    """One scripted answer instead of the normal one, consumed by the first matching call."""

    status: int = 200
    error: str | None = None  # the platform's error code / message
    retry_after: float | None = None
    match: str | None = None  # only calls whose name contains this (Slack method, Discord route)


class ThreadedFake:
    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host, self.port = host, port
        self.calls: list[dict[str, Any]] = []
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    # -- scripting ------------------------------------------------------------------------
    def fail(self, *faults: Fault) -> None:
        with self._lock:
            self._faults.extend(faults)

    def take_fault(self, name: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.match is None or fault.match in name:
                    self._faults.remove(fault)
                    return fault
        return None

    def reset(self) -> None:
        with self._lock:
            self._faults.clear()
            self.calls.clear()

    def calls_to(self, name: str) -> list[dict[str, Any]]:
        return [c for c in list(self.calls) if c["name"] == name]

    # -- lifecycle ------------------------------------------------------------------------
    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def _start_async(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        self.routes(app)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    def start(self):
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = self._loop = asyncio.new_event_loop()
            try:
                loop.run_until_complete(self._start_async())
            except BaseException as exc:  # surfaced to the caller of start()
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name=type(self).__name__, daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        if self._thread is None or self._loop is None:
            return
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._thread = self._loop = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
