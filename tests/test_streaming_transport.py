"""The model requests' HTTP transport: keep-alive, stale connections, timeouts, TLS, and the
official SDK streaming through it from the fake OpenAI server."""

from __future__ import annotations

import asyncio
import time
import logging
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx2
import openai
import pytest

from conversations.providers.openai_compat import OpenAICompatibleBackend
from conversations.providers.base import ChatRequest, Usage
from conversations.providers.transport import StreamingTransport
from tests.fakes.openai_server import FakeOpenAI

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return head + await reader.readexactly(length)


def ok(body: bytes = b"hello") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


class RawServer:
    """A TCP server whose connections run `handler(reader, writer, connection_number)`."""

    def __init__(self, handler: Handler, ssl_context: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.ssl_context = ssl_context
        self.connections = 0

    async def __aenter__(self) -> RawServer:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            try:
                await self.handler(reader, writer, self.connections)
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                writer.close()

        self.server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=self.ssl_context)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()

    def url(self, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}/v1/x"


@pytest.fixture
async def transport() -> AsyncIterator[StreamingTransport]:
    transport = StreamingTransport(ssl_context=ssl.create_default_context())
    yield transport
    await transport.aclose()


async def test_sequential_requests_share_one_connection(transport):
    async def keep_alive(reader, writer, n):
        while True:
            await read_request(reader)
            writer.write(ok(b"reply %d" % n))

    async with RawServer(keep_alive) as server, httpx2.AsyncClient(transport=transport) as http:
        bodies = [(await http.post(server.url(), json={"i": i})).content for i in range(3)]
    assert bodies == [b"reply 1"] * 3
    assert server.connections == 1 and transport.connections_opened == 1


async def test_a_connection_the_server_closed_is_not_reused(transport):
    async def one_each(reader, writer, n):
        await read_request(reader)
        writer.write(ok(b"reply %d" % n))
        await writer.drain()  # then closes, without saying so in a header

    async with RawServer(one_each) as server, httpx2.AsyncClient(transport=transport) as http:
        first = await http.post(server.url(), content=b"a")
        await asyncio.sleep(0.05)  # the close reaches the client
        second = await http.post(server.url(), content=b"b")
    assert (first.content, second.content) == (b"reply 1", b"reply 2")
    assert transport.connections_opened == 2


async def test_a_request_lost_on_a_stale_connection_is_sent_again_on_a_new_one(transport):
    async def drops_second(reader, writer, n):
        await read_request(reader)
        writer.write(ok(b"reply %d" % n))
        if n == 1:
            await read_request(reader)  # the server's keep-alive ran out as this arrived

    async with RawServer(drops_second) as server, httpx2.AsyncClient(transport=transport) as http:
        first = await http.post(server.url(), content=b"a")
        second = await http.post(server.url(), content=b"b")
    assert (first.content, second.content) == (b"reply 1", b"reply 2")
    assert server.connections == 2


async def test_a_fresh_connection_closed_without_an_answer_is_an_error(transport):
    async def hangs_up(reader, writer, n):
        await read_request(reader)

    async with RawServer(hangs_up) as server, httpx2.AsyncClient(transport=transport) as http:
        with pytest.raises(httpx2.RemoteProtocolError):
            await http.post(server.url(), content=b"a")
    assert server.connections == 1  # not retried: the server may have acted on it


async def test_a_silent_server_times_out_and_a_closed_port_refuses(transport):
    async def silent(reader, writer, n):
        await read_request(reader)
        await asyncio.sleep(5)

    async with RawServer(silent) as server, httpx2.AsyncClient(transport=transport) as http:
        with pytest.raises(httpx2.ReadTimeout):
            await http.post(server.url(), content=b"a", timeout=httpx2.Timeout(5, read=0.2))
        port = server.port
    async with httpx2.AsyncClient(transport=transport) as http:
        server.server.close()
        await server.server.wait_closed()
        with pytest.raises(httpx2.ConnectError):
            await http.post(f"http://127.0.0.1:{port}/", content=b"a")


async def test_the_read_timeout_is_per_wait_and_follows_each_requests_own_setting(transport):
    """A stream slower in total than its read timeout, but never silent for that long, is
    read whole; a later request on the same connection keeps its own, shorter, timeout."""

    async def trickles_answers_then_goes_silent(reader, writer, n):
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(8):
            await asyncio.sleep(0.05)
            writer.write(b"1\r\nx\r\n")
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await read_request(reader)
        await asyncio.sleep(0.05)
        writer.write(ok())
        await read_request(reader)
        await asyncio.sleep(5)

    async with RawServer(trickles_answers_then_goes_silent) as server, \
            httpx2.AsyncClient(transport=transport) as http:
        response = await http.post(server.url(), content=b"a",
                                   timeout=httpx2.Timeout(5, read=0.15))
        assert response.content == b"x" * 8  # 0.4 s in all, never 0.15 s without a byte
        response = await http.post(server.url(), content=b"b", timeout=httpx2.Timeout(5))
        assert response.content == b"hello"
        started = time.monotonic()
        with pytest.raises(httpx2.ReadTimeout):
            await http.post(server.url(), content=b"c", timeout=httpx2.Timeout(5, read=0.2))
        assert time.monotonic() - started < 1.5  # not the 5 s the previous request allowed
    assert server.connections == 1


async def test_a_body_cut_short_is_an_error_and_a_body_left_unread_is_not_reused(transport):
    async def cut_then_serve(reader, writer, n):
        await read_request(reader)
        if n == 1:
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
            return
        if n == 2:
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                         + b"".join(b"3\r\nabc\r\n" for _ in range(100)) + b"0\r\n\r\n")
            await reader.read()  # only a new connection gets the next answer
            return
        writer.write(ok())

    async with RawServer(cut_then_serve) as server, httpx2.AsyncClient(transport=transport) as http:
        with pytest.raises(httpx2.RemoteProtocolError):
            await http.post(server.url(), content=b"a")
        async with http.stream("POST", server.url(), content=b"b") as response:
            async for _ in response.aiter_bytes():
                break  # the reader stops early
        assert (await http.post(server.url(), content=b"c")).content == b"hello"
    assert server.connections == 3


async def test_it_speaks_tls_with_the_given_context(tmp_path: Path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", key, "-out", cert, "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)

    async def keep_alive(reader, writer, n):
        while True:
            await read_request(reader)
            writer.write(ok(b"secret"))

    trusting = StreamingTransport(ssl_context=ssl.create_default_context(cafile=str(cert)))
    untrusting = StreamingTransport(ssl_context=ssl.create_default_context())
    async with RawServer(keep_alive, server_context) as server:
        async with httpx2.AsyncClient(transport=trusting) as http:
            assert (await http.post(server.url("https"), content=b"a")).content == b"secret"
            assert (await http.post(server.url("https"), content=b"b")).content == b"secret"
        async with httpx2.AsyncClient(transport=untrusting) as http:
            with pytest.raises(httpx2.ConnectError):
                await http.post(server.url("https"), content=b"a")
    assert server.connections == 1  # kept alive; the refused handshake never got that far


async def test_the_sdk_streams_replies_over_kept_alive_connections(fake_openai: FakeOpenAI, caplog):
    caplog.set_level(logging.INFO)
    fake_openai.configure(tokens=30)
    backend = OpenAICompatibleBackend(base_url=fake_openai.url, api_key="sk-test", timeout=5,
                                      max_retries=0)
    request = ChatRequest(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}],
                          temperature=0.7, max_tokens=100)
    replies = []
    for _ in range(3):
        items = [item async for item in backend.stream(request)]
        assert isinstance(items[-1], Usage)
        replies.append("".join(i for i in items if isinstance(i, str)))
    assert replies[0] and replies == [replies[0]] * 3
    transport = backend.client._client._transport
    assert isinstance(transport, StreamingTransport) and transport.connections_opened == 1
    assert len(fake_openai.requests) == 3
    # Not a log line per request from the HTTP client (formatted on the event loop).
    assert not [r for r in caplog.records if r.name.startswith("httpx")]


async def test_sdk_errors_still_come_through_it(fake_openai: FakeOpenAI):
    from tests.fakes.openai_server import Behaviour

    fake_openai.script(Behaviour(status=429))
    client = openai.AsyncOpenAI(
        base_url=fake_openai.url, api_key="sk-test", max_retries=0,
        http_client=openai.DefaultAsyncHttpxClient(
            transport=StreamingTransport(ssl_context=ssl.create_default_context())),
    )
    with pytest.raises(openai.RateLimitError):
        await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    await client.close()


def test_retry_rules_follow_the_sdks():
    from conversations.providers.openai_compat import retry_delay, should_retry

    def response(status: int, **headers: str) -> httpx2.Response:
        return httpx2.Response(status, headers=headers)

    assert [should_retry(response(s)) for s in (400, 401, 404, 408, 409, 429, 500, 503)] == [
        False, False, False, True, True, True, True, True]
    assert should_retry(response(400, **{"x-should-retry": "true"}))
    assert not should_retry(response(503, **{"x-should-retry": "false"}))
    assert not should_retry(response(429, **{"retry-after": "3600"}))  # longer than we wait
    assert retry_delay(0, response(429, **{"retry-after-ms": "250"}).headers) == 0.25
    assert retry_delay(0, response(429, **{"retry-after": "2"}).headers) == 2.0
    assert 0.375 <= retry_delay(0) <= 0.5 and 1.5 <= retry_delay(2) <= 2.0
    assert retry_delay(10) <= 8.0


async def test_a_proxy_in_the_environment_gets_httpxs_own_transport(monkeypatch):
    from conversations.providers.openai_compat import client_for

    direct = client_for(base_url="http://127.0.0.1:9/v1", api_key="k", timeout=5, max_retries=0)
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    proxied = client_for(base_url="https://127.0.0.1:9/v1", api_key="k", timeout=5, max_retries=0)
    assert isinstance(direct._client._transport_for_url(httpx2.URL("http://127.0.0.1:9/v1")),
                      StreamingTransport)
    via = proxied._client._transport_for_url(httpx2.URL("https://api.openai.com/v1"))
    assert not isinstance(via, StreamingTransport)
    assert "3128" in repr(via._pool._proxy_url)
