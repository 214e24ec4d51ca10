"""HTTP/1.1 to the gateway's upstreams: pooled keep-alive connections, bodies streamed both
ways, on asyncio and httptools (the parser uvicorn itself runs on).

Why not httpx/httpcore: on the gateway's hot path they cost ~1.5 ms of CPU per request
(anyio locks, h11, URL and header models, a cookie jar), more than the whole latency
budget; this module does only what a reverse proxy needs: write the request head as given,
parse the answer, hand body chunks over as they arrive, and put a connection back in the
pool only when its answer was read to the end and the upstream allows keep-alive.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
from collections.abc import AsyncIterator
from typing import Any, cast

import httptools

HIGH_WATER = 1 << 18  # unread answer bytes before the socket stops being read
MAX_IDLE = 100        # idle connections kept per upstream


class UpstreamError(Exception):
    """The upstream could not be reached or broke the exchange (502)."""


class UpstreamTimeout(UpstreamError):
    """The upstream stayed silent longer than the route's timeout (504)."""


class StaleConnection(UpstreamError):
    """A reused keep-alive connection was closed before any answer: safe to retry."""


class _Connection(asyncio.Protocol):
    """One TCP connection; one exchange at a time."""

    def __init__(self, key: tuple[str, int, bool]) -> None:
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.reused = False
        self._can_write = asyncio.Event()
        self._can_write.set()
        self._waiter: asyncio.Future[None] | None = None
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: collections.deque[bytes] = collections.deque()
        self.buffered = 0
        self.got_headers = False
        self.keep_alive = False
        self.complete = False
        self.error: BaseException | None = None
        self.head_only = False
        self.received_any = False

    # asyncio.Protocol --------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport but behave as one.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.received_any = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(UpstreamError(f"malformed answer: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._can_write.set()
        if not self.complete:
            if self.reused and not self.received_any:
                self._fail(StaleConnection("the upstream closed a kept-alive connection"))
            else:
                self._fail(UpstreamError("the upstream closed the connection"
                                         + (f": {exc}" if exc else " before its answer ended")))

    def pause_writing(self) -> None:
        self._can_write.clear()

    def resume_writing(self) -> None:
        self._can_write.set()

    # httptools callbacks -----------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        # Asked here: once the message is complete the parser has moved on.
        self.keep_alive = self.parser.should_keep_alive()
        self.got_headers = True
        if self.head_only:
            # A HEAD answer announces a body it does not send; the parser would wait for it.
            self.complete = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)
        self.buffered += len(body)
        if self.buffered > HIGH_WATER and self.transport is not None:
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        self.complete = True
        self._wake()

    # ------------------------------------------------------------------------------------
    def _fail(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = exc
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def wait(self, timeout: float) -> None:
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(self._waiter, timeout)
        except TimeoutError:
            raise UpstreamTimeout(f"no answer for {timeout:g} s") from None
        finally:
            self._waiter = None

    async def write(self, data: bytes, timeout: float) -> None:
        if self.closed or self.transport is None:
            raise self.error or UpstreamError("the upstream closed the connection")
        self.transport.write(data)
        if not self._can_write.is_set():
            try:
                await asyncio.wait_for(self._can_write.wait(), timeout)
            except TimeoutError:
                raise UpstreamTimeout(f"the upstream took no data for {timeout:g} s") from None
            if self.closed:
                raise self.error or UpstreamError("the upstream closed the connection")

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class UpstreamResponse:
    """Status, raw headers and the body as it arrives; `aclose` returns the connection."""

    def __init__(self, pool: UpstreamPool, conn: _Connection, timeout: float) -> None:
        self.pool, self.conn, self.timeout = pool, conn, timeout
        self.status = conn.status
        self.headers = conn.headers
        self._released = False

    async def chunks(self) -> AsyncIterator[bytes]:
        conn = self.conn
        while True:
            if conn.chunks:
                chunk = conn.chunks.popleft()
                conn.buffered -= len(chunk)
                if conn.buffered <= HIGH_WATER // 2 and conn.transport is not None:
                    conn.transport.resume_reading()
                yield chunk
            elif conn.complete:
                return
            elif conn.error is not None:
                raise conn.error
            else:
                await conn.wait(self.timeout)

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.chunks()])

    async def aclose(self) -> None:
        if self._released:
            return
        self._released = True
        conn = self.conn
        reusable = (conn.complete and not conn.chunks and conn.error is None
                    and not conn.head_only and conn.keep_alive)
        self.pool.release(conn, reusable)


class UpstreamPool:
    """Keep-alive connections per (host, port, tls)."""

    def __init__(self, *, connect_timeout: float = 5.0) -> None:
        self.connect_timeout = connect_timeout
        self._idle: dict[tuple[str, int, bool], list[_Connection]] = {}
        self._tls: ssl.SSLContext | None = None

    async def _connect(self, host: str, port: int, tls: bool, timeout: float) -> _Connection:
        key = (host, port, tls)
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            if not conn.closed:
                conn.reused = True
                conn._reset()
                conn.parser = httptools.HttpResponseParser(conn)
                return conn
        loop = asyncio.get_running_loop()
        context: Any = None
        if tls:
            context = self._tls = self._tls or ssl.create_default_context()
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(lambda: _Connection(key), host, port, ssl=context),
                min(timeout, self.connect_timeout))
        except TimeoutError:
            raise UpstreamTimeout(f"no connection to {host}:{port} within "
                                  f"{min(timeout, self.connect_timeout):g} s") from None
        except OSError as exc:
            raise UpstreamError(f"cannot connect to {host}:{port}: "
                                f"{exc.strerror or exc}") from exc
        return conn

    async def request(self, method: bytes, host: str, port: int, tls: bool, target: bytes,
                      headers: list[tuple[bytes, bytes]],
                      body: AsyncIterator[bytes] | bytes | None, *, chunked: bool,
                      timeout: float) -> UpstreamResponse:
        """Send the request and wait for the answer's head. `headers` must hold Host and,
        for a body, Content-Length, or `chunked` must be set (the body is then framed)."""
        conn = await self._connect(host, port, tls, timeout)
        conn.head_only = method == b"HEAD"
        try:
            head = [method, b" ", target, b" HTTP/1.1\r\n"]
            for name, value in headers:
                head += (name, b": ", value, b"\r\n")
            if chunked:
                head.append(b"transfer-encoding: chunked\r\n")
            head.append(b"\r\n")
            if isinstance(body, bytes):
                await conn.write(b"".join(head) + body, timeout)
            else:
                await conn.write(b"".join(head), timeout)
                if body is not None:
                    async for chunk in body:
                        if chunk:
                            await conn.write(b"%x\r\n%b\r\n" % (len(chunk), chunk) if chunked
                                             else chunk, timeout)
                    if chunked:
                        await conn.write(b"0\r\n\r\n", timeout)
            while not conn.got_headers:
                if conn.error is not None:
                    raise conn.error
                await conn.wait(timeout)
        except BaseException:
            conn.close()
            raise
        return UpstreamResponse(self, conn, timeout)

    def release(self, conn: _Connection, reusable: bool) -> None:
        if not reusable or conn.closed:
            conn.close()
            return
        idle = self._idle.setdefault(conn.key, [])
        if len(idle) >= MAX_IDLE:
            conn.close()
        else:
            idle.append(conn)

    async def aclose(self) -> None:
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()
