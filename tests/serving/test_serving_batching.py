"""Adaptive batching with maxLatencyMs 0: merge what is queued, never wait on a timer, and
predict at once when the server has one request in flight."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from components import Recorder
from serving_helpers import py_node, single

from flowyard.serving import GraphEngine, Payload
from flowyard.serving.batching import track_requests

Make = Callable[..., GraphEngine]


@pytest.fixture
def engine(make_engine: Make) -> Iterator[GraphEngine]:
    Recorder.seen.clear()
    yield make_engine(single(py_node("rec", "Recorder", batching={
        "maxBatchSize": 8, "maxLatencyMs": 0})))
    track_requests(None)


async def _burst(engine: GraphEngine, n: int) -> list[Any]:
    return list(await asyncio.gather(*(engine.predict(Payload(np.full((1, 2), i)))
                                       for i in range(n))))


def test_requests_of_one_loop_turn_are_merged_without_a_timer(engine: GraphEngine) -> None:
    preds = asyncio.run(_burst(engine, 5))
    assert [p.data.tolist() for p in preds] == [[[i * 100, i * 100]] for i in range(5)]
    assert Recorder.seen == [[[i, i] for i in range(5)]]


def test_a_request_alone_in_the_server_is_predicted_at_once(engine: GraphEngine) -> None:
    track_requests({"the only request"})

    async def alone() -> Any:
        coro = engine.predict(Payload(np.array([[1.0, 2.0]])))
        with pytest.raises(StopIteration) as done:  # finished without yielding to the loop
            coro.send(None)
        return done.value.value

    pred = asyncio.run(alone())
    assert pred.data.tolist() == [[100.0, 200.0]] and Recorder.seen == [[[1.0, 2.0]]]


def test_several_requests_in_flight_still_batch(engine: GraphEngine) -> None:
    track_requests({"one", "two", "three"})
    preds = asyncio.run(_burst(engine, 3))
    assert [p.data.tolist() for p in preds] == [[[i * 100, i * 100]] for i in range(3)]
    assert len(Recorder.seen) == 1 and len(Recorder.seen[0]) == 3
