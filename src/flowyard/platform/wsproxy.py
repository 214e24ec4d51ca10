"""Websocket proxying: an accepted ASGI websocket joined to an upstream one.

The upstream connection is opened before the client's upgrade is accepted, so a refused
upstream handshake is answered with its own HTTP status (a Jupyter 404 for an unknown
kernel stays a 404), an unreachable one with 502 and a slow one with 504. The client's
subprotocols are offered upstream and the one the upstream picks is the one accepted.
Messages flow both ways as they come (text stays text, bytes stay bytes); a close on either
side is passed on with its code and reason.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.typing import Subprotocol

from flowyard.errors import FlowyardError
from flowyard.platform.auth import Receive, Send

# Messages of up to 64 MiB (notebook outputs with images are large; uvicorn's own limit
# for the client side is --ws-max-size, 16 MiB by default).
MAX_MESSAGE = 64 * 2**20
# Codes that exist only locally and may not be sent in a close frame (RFC 6455 7.4.1).
NO_STATUS, ABNORMAL, TLS_FAILURE, BAD_GATEWAY = 1005, 1006, 1015, 1014
CLOSE_WAIT = 5.0


class UpstreamRefused(FlowyardError):
    """The upstream answered the upgrade with an HTTP status other than 101."""

    headline = "upstream refused the websocket"

    def __init__(self, message: str, status: int, headers: list[tuple[bytes, bytes]],
                 body: bytes) -> None:
        super().__init__(message)
        self.status, self.headers, self.body = status, headers, body


async def open_upstream(url: str, headers: Sequence[tuple[str, str]], subprotocols: list[str],
                        timeout: float) -> ClientConnection:
    """Connect to `url` (ws:// or wss://); errors map to UpstreamRefused, OSError or
    TimeoutError for the caller to turn into statuses."""
    try:
        return await connect(url, additional_headers=list(headers),
                             subprotocols=[Subprotocol(p) for p in subprotocols] or None,
                             open_timeout=timeout, compression=None, proxy=None,
                             user_agent_header=None, max_size=MAX_MESSAGE,
                             ping_interval=None, close_timeout=5)
    except InvalidStatus as exc:
        answer = exc.response
        kept = [(k.lower().encode("latin-1"), v.encode("latin-1"))
                for k, v in answer.headers.raw_items()
                if k.lower() in ("content-type", "www-authenticate", "retry-after")]
        raise UpstreamRefused(f"HTTP {answer.status_code}", answer.status_code, kept,
                              bytes(answer.body or b"")) from exc
    except InvalidHandshake as exc:
        raise OSError(f"not a websocket server: {exc}") from exc


async def join(receive: Receive, send: Send, upstream: ClientConnection) -> None:
    """Accept the client (already past websocket.connect) with the upstream's subprotocol
    and pump both ways until either side closes."""
    await send({"type": "websocket.accept", "subprotocol": upstream.subprotocol})
    up = asyncio.ensure_future(_client_to_upstream(receive, upstream))
    down = asyncio.ensure_future(_upstream_to_client(send, upstream))
    try:
        _, pending = await asyncio.wait((up, down), return_when=asyncio.FIRST_COMPLETED)
        if pending:
            # One side has closed; the other direction still carries the close handshake
            # (and the close code) to its end.
            await asyncio.wait(pending, timeout=CLOSE_WAIT)
    finally:
        for task in (up, down):
            task.cancel()
        for task in (up, down):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await upstream.close()


async def _client_to_upstream(receive: Receive, upstream: ClientConnection) -> None:
    while True:
        message = await receive()
        kind = message["type"]
        if kind == "websocket.receive":
            data = message.get("bytes")
            try:
                await upstream.send(data if data is not None else message.get("text") or "")
            except ConnectionClosed:
                return
        elif kind == "websocket.disconnect":
            code = int(message.get("code") or 1000)
            if code in (NO_STATUS, ABNORMAL, TLS_FAILURE):
                code = 1000 if code == NO_STATUS else 1001  # the client went away
            await upstream.close(code, str(message.get("reason") or ""))
            return


async def _upstream_to_client(send: Send, upstream: ClientConnection) -> None:
    message: dict[str, Any]
    try:
        async for data in upstream:
            if isinstance(data, str):
                message = {"type": "websocket.send", "text": data}
            else:
                message = {"type": "websocket.send", "bytes": data}
            await send(message)
    except ConnectionClosed:
        pass  # an abnormal end; the code below says so
    frame = upstream.protocol.close_rcvd
    code = frame.code if frame is not None else BAD_GATEWAY
    if code in (NO_STATUS, ABNORMAL, TLS_FAILURE):
        code = 1000 if code == NO_STATUS else BAD_GATEWAY
    with contextlib.suppress(Exception):  # the client may be gone already
        await send({"type": "websocket.close", "code": code,
                    "reason": frame.reason if frame is not None else "upstream went away"})
