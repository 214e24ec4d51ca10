"""A real uvicorn process on loopback, driven by real clients: tritonclient and requests."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
import tritonclient.http as httpclient
from serving_helpers import (
    IRIS_ROW,
    LiveServer,
    start_server,
    stop_server,
)
from tritonclient.utils import InferenceServerException

from net_helpers import free_port, wait_http


def test_tritonclient_json_and_binary(live_server: LiveServer) -> None:
    c = httpclient.InferenceServerClient(url=live_server.host_port, connection_timeout=5,
                                         network_timeout=30)
    try:
        assert c.is_server_live() and c.is_server_ready()
        assert c.is_model_ready("classifier")
        meta = c.get_model_metadata("classifier")
        assert meta["inputs"][0]["shape"] == [-1, 4]
        assert c.get_server_metadata()["name"] == "flowyard"
        x = np.array([IRIS_ROW, [6.2, 3.4, 5.4, 2.3]], dtype=np.float32)
        for binary in (False, True):
            inp = httpclient.InferInput("input-0", list(x.shape), "FP32")
            inp.set_data_from_numpy(x, binary_data=binary)
            out = httpclient.InferRequestedOutput("predict", binary_data=binary)
            res = c.infer("classifier", [inp], outputs=[out], request_id="req-7")
            assert res.as_numpy("predict").tolist() == [0, 2]
            assert res.get_response()["id"] == "req-7"
        words = np.array([b"to", b"be"], dtype=np.object_)
        inp = httpclient.InferInput("w", [2], "BYTES")
        inp.set_data_from_numpy(words, binary_data=True)
        res = c.infer("identity", [inp])
        assert res.as_numpy("output-0").tolist() == [b"to", b"be"]
        bad = httpclient.InferInput("input-0", [1, 3], "FP32")
        bad.set_data_from_numpy(np.zeros((1, 3), dtype=np.float32), binary_data=False)
        with pytest.raises(InferenceServerException, match=r"expects shape \[-1, 4\]"):
            c.infer("classifier", [bad])
        with pytest.raises(InferenceServerException, match="model 'missing' is not served"):
            c.infer("missing", [bad])
    finally:
        c.close()


def test_tritonclient_grpc(live_server: LiveServer) -> None:
    import tritonclient.grpc as grpcclient

    c = grpcclient.InferenceServerClient(url=live_server.grpc)
    try:
        assert c.is_server_live() and c.is_server_ready() and c.is_model_ready("classifier")
        meta = c.get_model_metadata("classifier")
        assert meta.platform == "sklearn" and list(meta.inputs[0].shape) == [-1, 4]
        x = np.array([IRIS_ROW, [6.2, 3.4, 5.4, 2.3]], dtype=np.float64)
        inp = grpcclient.InferInput("input-0", list(x.shape), "FP64")
        inp.set_data_from_numpy(x)
        res = c.infer("iris", [inp], outputs=[grpcclient.InferRequestedOutput("predict")],
                      request_id="g-1")
        assert res.as_numpy("predict").tolist() == [0, 2]
        assert res.get_response().id == "g-1"
        assert res.get_response().parameters["predictor"].string_param == "main"
        for dt, arr in (("FP16", np.array([0.5, 1.5], dtype=np.float16)),
                        ("BYTES", np.array([b"a", b"bc"], dtype=np.object_)),
                        ("BOOL", np.array([True, False])), ("UINT8", np.array([1, 255],
                                                                             dtype=np.uint8))):
            inp = grpcclient.InferInput("t", [2], dt)
            inp.set_data_from_numpy(arr)
            got = c.infer("identity", [inp]).as_numpy("output-0")
            assert got.tolist() == arr.tolist(), dt
        bad = grpcclient.InferInput("input-0", [1, 3], "FP32")
        bad.set_data_from_numpy(np.zeros((1, 3), dtype=np.float32))
        with pytest.raises(InferenceServerException, match=r"INVALID_ARGUMENT.*expects shape "
                                                           r"\[-1, 4\]"):
            c.infer("classifier", [bad])
        with pytest.raises(InferenceServerException, match=r"NOT_FOUND.*model 'missing'"):
            c.infer("missing", [bad])
    finally:
        c.close()


def test_grpc_typed_contents_and_bad_requests(live_server: LiveServer) -> None:
    import grpc
    from tritonclient.grpc import service_pb2 as pb
    from tritonclient.grpc import service_pb2_grpc as pb_grpc

    with grpc.insecure_channel(live_server.grpc) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        req = pb.ModelInferRequest(model_name="classifier", id="typed")
        tensor = req.inputs.add(name="x", datatype="FP32", shape=[1, 4])
        tensor.contents.fp32_contents.extend(IRIS_ROW)
        req.outputs.add(name="predict")
        resp = stub.ModelInfer(req, timeout=10)
        assert resp.id == "typed" and resp.outputs[0].datatype == "INT64"
        assert np.frombuffer(resp.raw_output_contents[0], dtype="<i8").tolist() == [0]
        bad = pb.ModelInferRequest(model_name="classifier")
        bad.inputs.add(name="x", datatype="FLOAT", shape=[1, 4])
        with pytest.raises(grpc.RpcError) as info:
            stub.ModelInfer(bad, timeout=10)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "input 'x': unknown datatype 'FLOAT'" in info.value.details()
        short = pb.ModelInferRequest(model_name="classifier")
        short.inputs.add(name="x", datatype="FP32", shape=[1, 4]).contents.fp32_contents.extend(
            [1.0, 2.0])
        with pytest.raises(grpc.RpcError) as info:
            stub.ModelInfer(short, timeout=10)
        assert "input 'x': shape [1, 4] needs 4 elements but data has 2" in info.value.details()


def test_seldon_payload_and_metrics_over_http(live_server: LiveServer) -> None:
    r = requests.post(f"{live_server.url}/api/v1.0/predictions",
                      json={"data": {"names": ["sl", "sw", "pl", "pw"], "ndarray": [IRIS_ROW]}},
                      timeout=10)
    assert r.status_code == 200 and r.json()["data"]["ndarray"] == [0]
    r = requests.post(f"{live_server.url}/v2/models/classifier/infer", data=b"{oops",
                      timeout=10)
    assert r.status_code == 400 and "malformed JSON" in r.json()["error"]
    text = requests.get(f"{live_server.url}/metrics", timeout=10).text
    assert 'node="classifier",outcome="ok"' in text


def test_remote_node_calls_another_server(live_server: LiveServer, make_engine: Callable[..., Any]
                                          ) -> None:
    import asyncio

    from flowyard.serving import Payload

    engine = make_engine({"predictors": [{"name": "p", "traffic": 100, "graph": {
        "name": "remote-iris", "implementation": "REMOTE",
        "endpoint": {"url": live_server.url, "modelName": "classifier"}}},
        {"name": "s", "traffic": 0, "graph": {
            "name": "remote-seldon", "type": "MODEL",
            "endpoint": {"url": live_server.url, "protocol": "seldon"}}},
        {"name": "g", "traffic": 0, "graph": {
            "name": "remote-grpc", "endpoint": {"url": f"grpc://{live_server.grpc}",
                                                "modelName": "classifier"}}},
        {"name": "down", "traffic": 0, "graph": {
            "name": "remote-down", "endpoint": {"url": "http://127.0.0.1:9", "timeout": 2}}}]})

    async def go() -> Any:
        try:
            a = await engine.predict(Payload(np.array([IRIS_ROW])), target="p")
            b = await engine.predict(Payload(np.array([IRIS_ROW])), target="s")
            c = await engine.predict(Payload(np.array([IRIS_ROW, IRIS_ROW])), target="g")
            assert c.data.tolist() == [0, 0] and c.output_name == "predict"
            return a, b
        finally:
            await engine.aclose()
    a, b = asyncio.run(go())
    assert a.data.tolist() == [0] and a.output_name == "predict"
    assert a.request_path == {"remote-iris": live_server.url}
    assert b.data.tolist() == [0]

    async def down() -> Any:
        try:
            return await engine.predict(Payload(np.array([IRIS_ROW])), target="down")
        finally:
            await engine.aclose()
    from flowyard.serving.errors import RemoteError

    with pytest.raises(RemoteError, match=r"node 'remote-down': http://127.0.0.1:9/v2/models/"
                                          r"remote-down/infer failed: ConnectError"):
        asyncio.run(down())


def test_start_up_and_readiness_while_a_model_fails(tmp_path: Path, models: Path) -> None:
    for name in ("lr.joblib", "broken.joblib"):
        (tmp_path / name).write_bytes((models / name).read_bytes())
    graph = {"apiVersion": "flowyard.dev/v1alpha1", "kind": "InferenceGraph",
             "metadata": {"name": "two"},
             "spec": {"predictors": [
                 {"name": "good", "traffic": 100, "graph": {
                     "name": "ok", "implementation": "SKLEARN_SERVER",
                     "modelUri": "lr.joblib"}},
                 {"name": "bad", "traffic": 0, "graph": {
                     "name": "corrupt", "implementation": "SKLEARN_SERVER",
                     "modelUri": "broken.joblib"}}]}}
    started = time.monotonic()
    server = start_server(graph, tmp_path, free_port())
    try:
        wait_http(f"{server.url}/v2/models/ok/ready", ok=lambda r: r.status_code == 200)
        elapsed = time.monotonic() - started
        assert elapsed < 10, f"ready after {elapsed:.1f}s"
        r = requests.get(f"{server.url}/v2/health/ready", timeout=5)
        assert r.status_code == 503 and "cannot load model" in r.json()["reason"]
        r = requests.get(f"{server.url}/v2/models/corrupt/ready", timeout=5)
        assert r.status_code == 503 and "broken.joblib" in r.json()["reason"]
        body: dict[str, Any] = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64",
                                            "data": IRIS_ROW}]}
        r = requests.post(f"{server.url}/v2/models/ok/infer", json=body, timeout=5)
        assert r.status_code == 200 and r.json()["outputs"][0]["data"] == [0]
    finally:
        stop_server(server)


def test_bad_graph_file_exits_with_the_problem(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "g.yaml"
    path.write_text(json.dumps({"apiVersion": "flowyard.dev/v1alpha1", "kind": "InferenceGraph",
                                "metadata": {"name": "g"}, "spec": {"predictors": [
                                    {"name": "p", "traffic": 50, "graph": {
                                        "name": "m", "className": "x:Y"}}]}}))
    proc = subprocess.run([sys.executable, "-m", "flowyard.serving", str(path), "--port", "0"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert "Invalid resource" in proc.stderr
    assert "spec.predictors[*].traffic: traffic over non-shadow predictors sums to 50" in \
        proc.stderr


def test_two_workers_share_one_port(tmp_path: Path, models: Path) -> None:
    (tmp_path / "lr.joblib").write_bytes((models / "lr.joblib").read_bytes())
    graph = {"apiVersion": "flowyard.dev/v1alpha1", "kind": "InferenceGraph",
             "metadata": {"name": "iris"}, "spec": {"predictors": [{"name": "p", "graph": {
                 "name": "clf", "implementation": "SKLEARN_SERVER", "modelUri": "lr.joblib"}}]}}
    server = start_server(graph, tmp_path, free_port(), "--workers", "2")
    try:
        # Each new connection may reach either worker: wait until fresh connections keep
        # finding a ready one, so the second worker has loaded too.
        wait_http(f"{server.url}/v2/health/ready", ok=lambda r: r.status_code == 200 and all(
            requests.get(f"{server.url}/v2/health/ready", timeout=5).status_code == 200
            for _ in range(10)))
        body: dict[str, Any] = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64",
                                            "data": IRIS_ROW}]}
        with requests.Session() as s:
            for _ in range(20):
                r = s.post(f"{server.url}/v2/models/iris/infer", json=body, timeout=5)
                assert r.status_code == 200 and r.json()["outputs"][0]["data"] == [0]
    finally:
        stop_server(server)
    assert server.proc.returncode is not None


def test_python_client_for_flowyard_predict(live_server: LiveServer) -> None:
    from flowyard.errors import InvalidInput, NotFound
    from flowyard.serving.client import predict

    out = predict(live_server.url, "iris", [IRIS_ROW])
    assert out["outputs"][0]["data"] == [0] and out["parameters"]["predictor"] == "main"
    out = predict(live_server.url, None, "hello", protocol="seldon", predictor="echo")
    assert out["strData"] == "hello" and out["meta"]["predictor"] == "echo"
    with pytest.raises(NotFound, match="answered 404: model 'nope' is not served here"):
        predict(live_server.url, "nope", [IRIS_ROW])
    with pytest.raises(InvalidInput, match=r"expects shape \[-1, 4\]"):
        predict(live_server.url, "classifier", [[1, 2]])
