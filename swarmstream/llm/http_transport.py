"""A lean HTTP/1.1 keep-alive transport under the openai package's client.

The openai package sends through an httpx2 client, and the client's transport only moves bytes:
the calls, their types and their errors stay the package's. Its default transport scans its pool
on every request and slows down as calls in flight grow; the aiohttp one it offers spends much of
a worker's CPU building request and response objects. This one writes the request in one piece on
an idle connection and parses the answer with llhttp (``httptools``); BENCHMARKS.md has the figures.

Scope: one request at a time per connection (no pipelining), whole bodies (no streaming
responses), no proxies, HTTP/1.1 only. Timeouts follow httpx2's: ``connect``, ``pool``, and
``read``, here the time from the request written to the whole response received.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque

import httptools
import httpx2

Origin = tuple[bytes, bytes, int]


class _Connection(asyncio.Protocol):
    """One keep-alive connection; ``exchange`` sends a request and waits for the whole response."""

    def __init__(self, origin: Origin):
        self.origin = origin
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.received = False
        self.keep_alive = False
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self._waiter: asyncio.Future[int] | None = None

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(httpx2.RemoteProtocolError(f"malformed HTTP response: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.received:
            self._fail(httpx2.ReadError(f"connection lost in the middle of a response: {exc or 'closed'}"))
        else:
            self._fail(httpx2.RemoteProtocolError("server disconnected without sending a response"))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        # Only valid here: once the message completes, the parser has moved on to the next one.
        self.keep_alive = self.parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(self.parser.get_status_code())

    def _fail(self, exc: Exception) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    async def exchange(self, loop: asyncio.AbstractEventLoop, data: bytes, read_timeout: float | None) -> int:
        """The response's status code; its headers and body are left in ``headers`` and ``body``."""
        assert self.transport is not None
        self.headers = []
        self.body = []
        self.received = False
        self.keep_alive = False
        waiter = self._waiter = loop.create_future()
        self.transport.write(data)
        timer = None
        if read_timeout is not None:
            # A timer on the future, not asyncio.wait_for: that would cost a task per call.
            timer = loop.call_later(read_timeout, self._time_out)
        try:
            return await waiter
        finally:
            if timer is not None:
                timer.cancel()

    def _time_out(self) -> None:
        self._fail(httpx2.ReadTimeout("no complete response in time"))

    def reusable(self) -> bool:
        return self.keep_alive and not self.closed

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class KeepAliveTransport(httpx2.AsyncBaseTransport):
    """httpx2's transport interface over a :class:`ConnectionPool`: requests sent on kept-alive connections."""

    def __init__(self, max_connections: int = 100, ssl_context: ssl.SSLContext | None = None):
        self.pool = ConnectionPool(max_connections, ssl_context)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        loop = asyncio.get_running_loop()
        pool = self.pool
        timeouts = request.extensions.get("timeout") or {}
        url = request.url
        origin: Origin = (url.raw_scheme, url.raw_host, url.port or (443 if url.raw_scheme == b"https" else 80))
        data = request_bytes(request, await request.aread())
        while True:
            connection, reused = await pool.take(loop, origin, timeouts)
            try:
                status = await connection.exchange(loop, data, timeouts.get("read"))
            except httpx2.RemoteProtocolError:
                pool.discard(connection)
                # A kept-alive connection the server closed as we reused it: the request never
                # reached the application, so it is sent again on a new connection.
                if reused and not connection.received:
                    continue
                raise
            except BaseException:
                # Cancelled or timed out mid-response: the connection's state is unknown.
                pool.discard(connection)
                raise
            headers, body = connection.headers, b"".join(connection.body)
            if connection.reusable():
                pool.check_in(connection)
            else:
                pool.discard(connection)
            return httpx2.Response(status, headers=headers, content=body, extensions={"http_version": b"HTTP/1.1"})

    async def aclose(self) -> None:
        self.pool.close()


def request_bytes(request: httpx2.Request, body: bytes) -> bytes:
    """The request as HTTP/1.1 puts it on the wire."""
    target = request.url.raw_path
    lines = [request.method.encode("ascii"), b" ", target, b" HTTP/1.1\r\n"]
    for name, value in request.headers.raw:
        lines += (name, b": ", value, b"\r\n")
    lines += (b"\r\n", body)
    return b"".join(lines)


class ConnectionPool:
    """Up to ``max_connections`` open connections, kept alive and reused, for any origin."""

    def __init__(self, max_connections: int = 100, ssl_context: ssl.SSLContext | None = None):
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        self.max_connections = max_connections
        self.ssl_context = ssl_context
        self.idle: dict[Origin, list[_Connection]] = {}
        self.open = 0  # connections open, or being opened
        # Callers waiting while every connection is busy: each is handed a connection to its
        # origin as one comes back, or a free slot (None) to open one.
        self.waiting: deque[tuple[Origin, asyncio.Future[_Connection | None]]] = deque()
        self.connections: set[_Connection] = set()

    async def take(
        self, loop: asyncio.AbstractEventLoop, origin: Origin, timeouts: dict[str, float | None]
    ) -> tuple[_Connection, bool]:
        """An idle connection to ``origin`` (reused: True), or a new one once a slot is free."""
        idle = self.idle.get(origin)
        while idle:
            connection = idle.pop()
            if not connection.closed:
                return connection, True
            self.discard(connection)
        if self.open >= self.max_connections:
            # An idle connection to another origin gives its slot up before anyone waits.
            for connections in self.idle.values():
                if connections:
                    self.discard(connections.pop(0))
                    break
        if self.open < self.max_connections and not self.waiting:
            self.open += 1
        else:
            handed = await self._wait_for_slot(loop, origin, timeouts.get("pool"))
            if handed is not None:
                return handed, True
        return await self._open_connection(loop, origin, timeouts.get("connect")), False

    async def _wait_for_slot(
        self, loop: asyncio.AbstractEventLoop, origin: Origin, timeout: float | None
    ) -> _Connection | None:
        waiter: asyncio.Future[_Connection | None] = loop.create_future()
        entry = (origin, waiter)
        self.waiting.append(entry)
        try:
            async with asyncio.timeout(timeout):
                return await waiter
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():
                # Handed something just as we gave up: pass it on.
                handed = waiter.result()
                if handed is None:
                    self._release_slot()
                else:
                    self.check_in(handed)
            else:
                self.waiting.remove(entry)
            if isinstance(exc, TimeoutError):
                raise httpx2.PoolTimeout(f"all {self.max_connections} connections stayed busy") from exc
            raise

    async def _open_connection(
        self, loop: asyncio.AbstractEventLoop, origin: Origin, timeout: float | None
    ) -> _Connection:
        """Holds a slot already; gives it back if the connection cannot be made."""
        scheme, host, port = origin
        tls = None
        if scheme == b"https":
            tls = self.ssl_context = self.ssl_context or httpx2.create_ssl_context()
        try:
            async with asyncio.timeout(timeout):
                _, connection = await loop.create_connection(
                    lambda: _Connection(origin),
                    host.decode("ascii"),
                    port,
                    ssl=tls,
                    server_hostname=host.decode("ascii") if tls else None,
                )
        except TimeoutError as exc:
            self._release_slot()
            raise httpx2.ConnectTimeout(f"no connection to {host.decode()}:{port} in time") from exc
        except OSError as exc:
            self._release_slot()
            raise httpx2.ConnectError(f"cannot connect to {host.decode()}:{port}: {exc}") from exc
        except BaseException:
            self._release_slot()
            raise
        self.connections.add(connection)
        return connection

    def check_in(self, connection: _Connection) -> None:
        """A connection free for the next request: to a caller waiting for its origin, or idle."""
        for entry in self.waiting:
            origin, waiter = entry
            if origin == connection.origin and not waiter.done():
                self.waiting.remove(entry)
                waiter.set_result(connection)
                return
        self.idle.setdefault(connection.origin, []).append(connection)

    def _release_slot(self) -> None:
        """A connection closed: its slot goes to the first waiter, or back to the pool."""
        while self.waiting:
            _, waiter = self.waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes on; the count stays
                return
        self.open -= 1

    def discard(self, connection: _Connection) -> None:
        if connection in self.connections:
            self.connections.discard(connection)
            connection.close()
            self._release_slot()

    def close(self) -> None:
        for connection in list(self.connections):
            self.discard(connection)
        self.idle.clear()
