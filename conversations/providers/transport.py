"""An HTTP/1.1 transport for the model requests: httpx's transport interface on asyncio sockets.

The openai SDK stays the client (auth, retries, timeouts, errors); this replaces only the layer
under httpx that owns the connections. Measured in a web process starting 50 replies at once
(bench/README.md), the default one (httpcore over anyio) cost most of a millisecond of event-loop
CPU per request before it was written: anyio's checkpoints, and a pool that probes every idle
connection's socket with a system call each time a request comes or goes. Here an idle
connection is taken from a per-origin stack in O(1); a connection the server closed is known
from the event loop's own callback, not from probing it; a request goes out in the same step
that took it; response bytes go straight from the protocol to the reader.

HTTP/1.1 only, with keep-alive, and no proxies: when the environment names a proxy, the
clients use httpx's own transport (openai_compat._transport).
"""

from __future__ import annotations

import asyncio
import math
import ssl
import time
from collections.abc import AsyncIterator
import h11
import httpx2

# Bytes a response may buffer before the socket stops being read (resumed as they are taken).
READ_BUFFER_LIMIT = 256 * 1024


class _Protocol(asyncio.Protocol):
    """One socket: buffers what arrives and wakes the one reader waiting for it."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.chunks: list[bytes] = []
        self.buffered = 0
        self.eof = False
        self.chunks_seen = False  # since the connection was last taken from the pool
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False
        self._drain: asyncio.Future[None] | None = None
        self._deadline = 0.0  # of the wait under way
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.chunks_seen = True
        self.chunks.append(data)
        self.buffered += len(data)
        if self.buffered > READ_BUFFER_LIMIT and not self._paused and self.transport:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False  # close our side too

    def connection_lost(self, exc: BaseException | None) -> None:
        self.eof = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._wake()
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    def pause_writing(self) -> None:
        self._drain = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)
        self._drain = None

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def take(self) -> bytes:
        data = b"".join(self.chunks) if len(self.chunks) != 1 else self.chunks[0]
        self.chunks.clear()
        self.buffered = 0
        if self._paused and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        return data

    async def wait_readable(self, timeout: float | None) -> None:
        """Waits for bytes (or the end) at most `timeout` seconds; raises TimeoutError.

        A stream waits once per token, so the deadline is kept by one timer per connection,
        moved only when it fires early, not by a timeout scope per wait: creating and
        cancelling those took 3-4 % of a web process's CPU at 100 chats (bench/README.md)."""
        if self.chunks or self.eof:
            return
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        self._deadline = math.inf if timeout is None else loop.time() + timeout
        timer = self._timer
        if timeout is not None and (timer is None or timer.when() > self._deadline):
            if timer is not None:
                timer.cancel()
            self._timer = loop.call_at(self._deadline, self._deadline_reached)
        try:
            await waiter
        finally:
            self._waiter = None

    def _deadline_reached(self) -> None:
        self._timer = None
        waiter = self._waiter
        if waiter is None or waiter.done():
            return  # nobody waits now; the next wait sets a timer again
        loop = waiter.get_loop()
        if loop.time() >= self._deadline:
            waiter.set_exception(TimeoutError())
        elif self._deadline != math.inf:  # a later wait's deadline: not yet
            self._timer = loop.call_at(self._deadline, self._deadline_reached)

    async def drained(self, timeout: float | None) -> None:
        if self._drain is not None:
            async with asyncio.timeout(timeout):
                await self._drain


class _Connection:
    def __init__(self, protocol: _Protocol) -> None:
        self.protocol = protocol
        self.h11 = h11.Connection(our_role=h11.CLIENT)
        self.idle_since = 0.0
        self.reused = False

    @property
    def usable(self) -> bool:
        return not self.protocol.eof and self.h11.our_state is h11.IDLE

    def close(self) -> None:
        if self.protocol.transport is not None:
            self.protocol.transport.close()

    def write(self, event: h11.Event) -> None:
        data = self.h11.send(event)
        if data:
            assert self.protocol.transport is not None
            self.protocol.transport.write(data)

    async def next_event(self, read_timeout: float | None) -> h11.Event:
        while True:
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError as exc:
                raise httpx2.RemoteProtocolError(str(exc)) from exc
            if event is not h11.NEED_DATA:
                return event  # type: ignore[return-value]
            protocol = self.protocol
            if not protocol.chunks and protocol.eof:
                self.h11.receive_data(b"")
                continue
            try:
                await protocol.wait_readable(read_timeout)
            except TimeoutError:
                raise httpx2.ReadTimeout("timed out reading the response") from None
            if protocol.chunks:
                self.h11.receive_data(protocol.take())
            elif protocol.eof:
                self.h11.receive_data(b"")


class _ResponseBody(httpx2.AsyncByteStream):
    def __init__(self, transport: StreamingTransport, key: tuple[bytes, bytes, int],
                 connection: _Connection, read_timeout: float | None) -> None:
        self._transport = transport
        self._key = key
        self._connection: _Connection | None = connection
        self._read_timeout = read_timeout

    async def __aiter__(self) -> AsyncIterator[bytes]:
        connection = self._connection
        if connection is None:
            return
        try:
            while True:
                event = await connection.next_event(self._read_timeout)
                if isinstance(event, h11.Data):
                    yield bytes(event.data)
                elif isinstance(event, h11.EndOfMessage):
                    self._connection = None
                    self._transport._release(self._key, connection)
                    return
                elif isinstance(event, h11.ConnectionClosed):
                    raise httpx2.RemoteProtocolError("the server closed the connection mid-response")
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        # A body not read to its end leaves the connection mid-message: it cannot be reused.
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class StreamingTransport(httpx2.AsyncBaseTransport):
    def __init__(self, *, ssl_context: ssl.SSLContext, max_idle_per_origin: int = 200,
                 keepalive_expiry: float = 30.0) -> None:
        self._ssl_context = ssl_context
        self._max_idle = max_idle_per_origin
        self._keepalive_expiry = keepalive_expiry
        self._idle: dict[tuple[bytes, bytes, int], list[_Connection]] = {}
        self.connections_opened = 0  # for tests and diagnostics

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        url = request.url
        scheme = url.raw_scheme
        port = url.port or (443 if scheme == b"https" else 80)
        key = (scheme, url.raw_host, port)
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        body = await request.aread()
        connection = self._take_idle(key)
        while True:
            if connection is None:
                connection = await self._connect(key, timeouts.get("connect"))
            try:
                response = await self._exchange(connection, request, body, timeouts)
            except _StaleConnection:
                # The server had closed a kept-alive connection before reading this request.
                connection.close()
                connection = None
                continue
            except BaseException:
                connection.close()
                raise
            return httpx2.Response(
                status_code=response.status_code,
                headers=response.headers.raw_items(),
                stream=_ResponseBody(self, key, connection, timeouts.get("read")),
                extensions={"http_version": b"HTTP/1.1", "reason_phrase": response.reason},
            )

    async def _exchange(self, connection: _Connection, request: httpx2.Request, body: bytes,
                        timeouts: dict[str, float | None]) -> h11.Response:
        headers = [(k, v) for k, v in request.headers.raw if k.lower() != b"transfer-encoding"]
        if body and not any(k.lower() == b"content-length" for k, _ in headers):
            headers.append((b"Content-Length", str(len(body)).encode()))
        try:
            connection.write(h11.Request(method=request.method, target=request.url.raw_path or b"/",
                                         headers=headers))
            if body:
                connection.write(h11.Data(data=body))
            connection.write(h11.EndOfMessage())
        except h11.LocalProtocolError as exc:
            raise httpx2.LocalProtocolError(str(exc)) from exc
        try:
            await connection.protocol.drained(timeouts.get("write"))
        except TimeoutError:
            raise httpx2.WriteTimeout("timed out writing the request") from None
        if (trace := request.extensions.get("trace")) is not None:
            await trace("http11.send_request_body.complete", {"request": request})
        while True:
            try:
                event = await connection.next_event(timeouts.get("read"))
                if isinstance(event, h11.ConnectionClosed):
                    raise httpx2.RemoteProtocolError("the server closed the connection without a response")
            except httpx2.RemoteProtocolError:
                if connection.reused and not connection.protocol.chunks_seen:
                    raise _StaleConnection from None
                raise
            if isinstance(event, h11.Response):
                return event

    def _take_idle(self, key: tuple[bytes, bytes, int]) -> _Connection | None:
        stack = self._idle.get(key)
        now = time.monotonic()
        while stack:
            connection = stack.pop()  # the most recently used: the least likely to be stale
            if connection.usable and now - connection.idle_since < self._keepalive_expiry:
                connection.reused = True
                connection.protocol.chunks_seen = False
                return connection
            connection.close()
        return None

    def _release(self, key: tuple[bytes, bytes, int], connection: _Connection) -> None:
        if connection.h11.our_state is h11.DONE and connection.h11.their_state is h11.DONE:
            connection.h11.start_next_cycle()
        stack = self._idle.setdefault(key, [])
        if not connection.usable or len(stack) >= self._max_idle:
            connection.close()
            return
        connection.idle_since = time.monotonic()
        stack.append(connection)

    async def _connect(self, key: tuple[bytes, bytes, int], timeout: float | None) -> _Connection:
        scheme, host, port = key
        hostname = host.decode("ascii")
        tls = scheme == b"https"
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                _, protocol = await loop.create_connection(
                    _Protocol, hostname, port,
                    ssl=self._ssl_context if tls else None,
                    server_hostname=hostname if tls else None,
                )
        except TimeoutError:
            raise httpx2.ConnectTimeout(f"timed out connecting to {hostname}:{port}") from None
        except OSError as exc:
            raise httpx2.ConnectError(str(exc)) from exc
        self.connections_opened += 1
        return _Connection(protocol)

    async def aclose(self) -> None:
        for stack in self._idle.values():
            for connection in stack:
                connection.close()
        self._idle.clear()


class _StaleConnection(Exception):
    pass
