"""The infer fast path answers exactly as the Starlette route does; the coalescing transport
sends a response's writes together."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from serving_helpers import IRIS_ROW, AsgiClient, py_node
from starlette.applications import Starlette

from flowyard.serving import GraphEngine, build_app
from flowyard.serving.fastpath import ServingApp, match_infer
from flowyard.serving.transport import CoalescingTransport

SK = {"name": "classifier", "implementation": "SKLEARN_SERVER", "modelUri": "lr.joblib"}
ROW = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": IRIS_ROW}]}


@pytest.mark.parametrize(("path", "expected"), [
    ("/v2/models/iris/infer", ("iris", None)),
    ("/v2/models/iris/versions/3/infer", ("iris", "3")),
    ("/v2/models//infer", None),
    ("/v2/models/iris/versions//infer", None),
    ("/v2/models/a/b/infer", None),
    ("/v2/models/iris/ready", None),
    ("/api/v1.0/predictions", None),
])
def test_match_infer(path: str, expected: tuple[str, str | None] | None) -> None:
    assert match_infer(path) == expected


@pytest.fixture
def apps(make_engine: Callable[..., GraphEngine]) -> Iterator[tuple[AsgiClient, AsgiClient]]:
    engine = make_engine({"predictors": [
        {"name": "main", "traffic": 100, "graph": SK},
        {"name": "broken", "traffic": 0, "graph": py_node("boom", "Boom")}]}, name="iris")
    app = build_app(engine, load=False, max_request_bytes=4096)
    assert isinstance(app, ServingApp)

    async def starlette_only(scope: Any, receive: Any, send: Any) -> None:
        await Starlette.__call__(app, scope, receive, send)  # skips the fast path

    fast, slow = AsgiClient(app), AsgiClient(starlette_only)
    yield fast, slow
    fast.close()
    slow.close()


async def _chunks() -> Any:
    for _ in range(10):
        yield b" " * 1000


CASES: list[tuple[str, dict[str, Any]]] = [
    ("/v2/models/classifier/infer", {"json": ROW}),
    ("/v2/models/classifier/versions/1/infer", {"json": ROW}),
    ("/v2/models/classifier/versions/9/infer", {"json": ROW}),
    ("/v2/models/nope/infer", {"json": ROW}),
    ("/v2/models/classifier/infer", {"content": b'{"inputs": ['}),
    ("/v2/models/classifier/infer", {"json": {"inputs": [{"name": "x", "shape": [1, 3],
                                                          "datatype": "FP64",
                                                          "data": [1.0, 2.0, 3.0]}]}}),
    ("/v2/models/classifier/infer", {"json": {**ROW, "id": "r-1",
                                              "outputs": [{"name": "nope"}]}}),
    ("/v2/models/classifier/infer", {"json": {"inputs": [{"name": "x", "shape": [2000],
                                                          "datatype": "FP32",
                                                          "data": [0.0] * 2000}]}}),
    ("/v2/models/classifier/infer", {"content": b'{"inputs":[]}',
                                     "headers": {"inference-header-content-length": "x"}}),
    ("/v2/models/boom/infer", {"json": {"inputs": [{"name": "x", "shape": [1],
                                                    "datatype": "FP32", "data": [1]}]}}),
    ("/v2/models/main/infer", {"json": {**ROW, "parameters": {"binary_data_output": True}}}),
]


@pytest.mark.parametrize(("path", "kw"), CASES)
def test_fast_path_answers_as_the_starlette_route(apps: tuple[AsgiClient, AsgiClient],
                                                  path: str, kw: dict[str, Any]) -> None:
    fast, slow = apps
    a, b = fast.post(path, **kw), slow.post(path, **kw)
    assert a.status_code == b.status_code
    assert a.headers["content-type"] == b.headers["content-type"]
    assert a.headers.get("inference-header-content-length") == b.headers.get(
        "inference-header-content-length")
    if a.headers["content-type"] == "application/json":
        one, two = a.json(), b.json()
        for body in (one, two):  # request ids differ per call
            body.get("parameters", {}).pop("puid", None)
        assert one == two
    else:
        assert len(a.content) == len(b.content)


def test_fast_path_stops_chunked_bodies_at_the_limit(apps: tuple[AsgiClient, AsgiClient]
                                                     ) -> None:
    fast, _ = apps
    r = fast.post("/v2/models/classifier/infer", content=_chunks())
    assert r.status_code == 413
    assert r.json()["error"].startswith("request body exceeds the limit of 4096 bytes")


def test_fast_path_picks_the_predictor_header(apps: tuple[AsgiClient, AsgiClient]) -> None:
    fast, _ = apps
    r = fast.post("/v2/models/iris/infer", json={"inputs": [
        {"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]},
        headers={"seldon-predictor": "broken"})
    assert r.status_code == 500 and "node 'boom'" in r.json()["error"]
    r = fast.post("/v2/models/iris/infer", json=ROW,
                  headers={"x-flowyard-predictor": "main", "seldon-predictor": "broken"})
    assert r.status_code == 200 and r.json()["parameters"]["predictor"] == "main"


def test_coalescing_transport_sends_one_turns_writes_together() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        ours, peer = socket.socketpair()
        peer.setblocking(False)
        transport, _ = await loop.create_connection(asyncio.Protocol, sock=ours)
        wrapped = CoalescingTransport(transport, loop)
        wrapped.write(b"HTTP/1.1 200 OK\r\n\r\n")
        wrapped.write(memoryview(b"body"))
        assert wrapped.get_write_buffer_size() == 23
        with pytest.raises(BlockingIOError):
            peer.recv(100)  # nothing is sent before the loop turn ends
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert peer.recv(100) == b"HTTP/1.1 200 OK\r\n\r\nbody"
        wrapped.write(b"last")
        wrapped.close()  # close sends what is pending first
        await asyncio.sleep(0.01)
        assert peer.recv(100) == b"last"
        assert wrapped.is_closing()
        peer.close()

    asyncio.run(scenario())
