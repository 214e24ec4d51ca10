"""Adaptive batching: concurrent requests to one MODEL node merged into one predict call.

Requests queue until `max_batch_size` rows are waiting or `max_latency` seconds passed since
the first one. With a latency of 0 nothing waits: the flush is scheduled with `call_soon`,
so the batch is whatever arrived in the same event-loop turn (what is already queued), and
a request alone in its turn is predicted on its own, one loop step later, or at once when
the server says it is the only request in flight (`track_requests`).
Only 2-d numpy inputs are merged (row-wise); requests are grouped by row shape and dtype, so
a malformed request fails alone rather than failing its neighbours.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from typing import Any

import numpy as np

from flowyard.serving.errors import ModelError
from flowyard.serving.runtimes.base import Runtime

_Item = tuple[np.ndarray, list[str], dict[str, Any], "asyncio.Future[Any]"]
_in_flight: Collection[object] | None = None


def track_requests(requests: Collection[object] | None) -> None:
    """Show batchers the requests this process is serving (uvicorn's set of request tasks):
    with `max_latency` 0, a request that is alone in the server is predicted at once instead
    of one loop step later, since nothing could join its batch."""
    global _in_flight
    _in_flight = requests


class Batcher:
    def __init__(self, runtime: Runtime, max_batch_size: int, max_latency: float) -> None:
        self.runtime = runtime
        self.max_rows = max_batch_size
        self.max_latency = max_latency
        self._queue: list[_Item] = []
        self._rows = 0
        self._timer: asyncio.TimerHandle | asyncio.Handle | None = None

    async def submit(self, X: Any, names: list[str], meta: dict[str, Any]) -> Any:
        if not isinstance(X, np.ndarray) or X.ndim != 2 or X.shape[0] >= self.max_rows or (
                not self._queue and not self.max_latency and _in_flight is not None
                and len(_in_flight) <= 1):
            return self.runtime.predict(X, names, meta)
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        self._queue.append((X, names, meta, fut))
        self._rows += X.shape[0]
        if self._rows >= self.max_rows:
            self._flush()
        elif self._timer is None:
            self._timer = (loop.call_later(self.max_latency, self._flush) if self.max_latency
                           else loop.call_soon(self._flush))
        return await fut

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._flush()

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        items, self._queue, self._rows = self._queue, [], 0
        groups: dict[tuple[Any, ...], list[_Item]] = {}
        for item in items:
            groups.setdefault((item[0].shape[1:], item[0].dtype.str), []).append(item)
        for group in groups.values():
            self._run(group)

    def _run(self, group: list[_Item]) -> None:
        live = [it for it in group if not it[3].done()]
        if not live:
            return
        if len(live) == 1:
            X, names, meta, fut = live[0]
            try:
                fut.set_result(self.runtime.predict(X, names, meta))
            except Exception as exc:
                fut.set_exception(exc)
            return
        batch = np.concatenate([it[0] for it in live])
        try:
            out = self.runtime.predict(batch, live[0][1], live[0][2])
            if isinstance(out, list):
                out = np.asarray(out)
            if not isinstance(out, np.ndarray) or out.ndim == 0 or out.shape[0] != len(batch):
                raise ModelError(f"node {self.runtime.name!r}: batched predict returned "
                                 f"{getattr(out, 'shape', type(out).__name__)} for "
                                 f"{len(batch)} rows; disable batching for this node")
        except Exception as exc:
            for it in live:
                it[3].set_exception(exc)
            return
        start = 0
        for it in live:
            stop = start + it[0].shape[0]
            it[3].set_result(out[start:stop])
            start = stop
