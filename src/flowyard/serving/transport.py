"""uvicorn's httptools protocol with one `send()` per response instead of two, which also
tells adaptive batching how many requests are in flight.

uvicorn writes a response's status line and headers, then its body, as two transport writes;
with uvloop each is a `send` syscall (and, with TCP_NODELAY, a packet and a wake-up of the
client). At tens of thousands of tiny responses a second that pair was the largest single
cost in a profile of the server under wrk (about 45% of its CPU at 64 connections). Writes
made during one event-loop turn are held and sent together at the end of the turn, which
for a small response means one syscall, and adds no wait: the flush runs before the loop
polls for I/O again.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from flowyard.serving.batching import track_requests


class CoalescingTransport:
    """A transport proxy that joins the writes of one loop turn into one."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(bytes(data))

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if not self._pending:
            return
        data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(map(len, self._pending))

    def __getattr__(self, name: str) -> Any:  # everything else is the real transport's
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """`uvicorn.run(..., http=CoalescingHttpToolsProtocol)`."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        wrapped = CoalescingTransport(cast(asyncio.Transport, transport), self.loop)
        super().connection_made(cast(asyncio.Transport, wrapped))
        # uvicorn keeps one task per request in flight in this set, across connections.
        track_requests(self.server_state.tasks)
