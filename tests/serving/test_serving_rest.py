"""V2 and Seldon REST in-process (Starlette AsgiClient), with payloads from the docs."""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from serving_helpers import IRIS_ROW, AsgiClient, py_node

from flowyard.serving import GraphEngine, build_app

SK = {"name": "classifier", "implementation": "SKLEARN_SERVER", "modelUri": "lr.joblib"}


@pytest.fixture
def client(make_engine: Callable[..., GraphEngine]) -> Iterator[AsgiClient]:
    engine = make_engine({"predictors": [
        {"name": "main", "traffic": 100, "graph": SK},
        {"name": "echo", "traffic": 0, "graph": py_node("identity", "Echo")},
        {"name": "broken", "traffic": 0, "graph": py_node("boom", "Boom")},
        {"name": "lazy", "traffic": 0, "graph": py_node("unloadable", "FailsToLoad")}]},
        name="iris")
    c = AsgiClient(build_app(engine, load=False, max_request_bytes=4096))
    yield c
    c.close()


def infer(client: AsgiClient, model: str, body: Any, **kw: Any) -> Any:
    return client.post(f"/v2/models/{model}/infer", json=body, **kw)


# -- health and metadata

def test_health_metadata_and_readiness_tell_the_truth(client: AsgiClient) -> None:
    assert client.get("/v2/health/live").json() == {"live": True}
    ready = client.get("/v2/health/ready")
    assert ready.status_code == 503
    assert "node 'unloadable' is failed: OSError: weights file is corrupt" in ready.json()[
        "reason"]
    assert client.get("/v2/models/classifier/ready").json() == {"name": "classifier",
                                                                "ready": True}
    assert client.get("/v2/models/classifier/versions/1/ready").status_code == 200
    assert client.get("/v2/models/unloadable/ready").status_code == 503
    meta = client.get("/v2").json()
    assert meta["name"] == "flowyard" and "binary_tensor_data" in meta["extensions"]
    model = client.get("/v2/models/classifier").json()
    assert model["inputs"] == [{"name": "input-0", "datatype": "FP64", "shape": [-1, 4]}]
    assert model["platform"] == "sklearn" and model["versions"] == ["1"]
    graph = client.get("/v2/models/iris").json()
    assert graph["predictors"]["main"] == {"traffic": 100, "shadow": False}
    assert client.get("/v2/models/classifier/versions/7").status_code == 404
    index = {m["name"]: m["state"] for m in client.post("/v2/repository/index").json()}
    assert index["classifier"] == "READY" and index["unloadable"] == "UNAVAILABLE"


# -- V2 inference

def test_v2_infer_flat_and_nested_with_id_and_parameters(client: AsgiClient) -> None:
    for data in ([5.1, 3.5, 1.4, 0.2, 6.2, 3.4, 5.4, 2.3], [IRIS_ROW, [6.2, 3.4, 5.4, 2.3]]):
        r = infer(client, "classifier", {"id": "42", "parameters": {"content_type": "np"},
                                         "inputs": [{"name": "x", "shape": [2, 4],
                                                     "datatype": "FP32", "data": data}]})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["id"] == "42" and body["model_name"] == "classifier"
        assert body["outputs"] == [{"name": "predict", "shape": [2], "datatype": "INT64",
                                    "data": [0, 2]}]
        assert body["parameters"]["puid"] == "42"
        assert body["parameters"]["requestPath"] == {"classifier": "lr.joblib"}
    r = infer(client, "iris", {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64",
                                           "data": IRIS_ROW}]})
    assert r.json()["parameters"]["predictor"] == "main" and "id" not in r.json()
    r = client.post("/v2/models/classifier/versions/1/infer", json={"inputs": [
        {"name": "x", "shape": [1, 4], "datatype": "FP64", "data": IRIS_ROW}]})
    assert r.json()["model_version"] == "1"


@pytest.mark.parametrize(("datatype", "data"), [
    ("BOOL", [True, False]), ("UINT8", [0, 255]), ("UINT16", [1, 65535]),
    ("UINT32", [1, 2]), ("UINT64", [1, 2**63]), ("INT8", [-128, 127]),
    ("INT16", [-3, 3]), ("INT32", [-5, 5]), ("INT64", [-(2**40), 2**40]),
    ("FP16", [0.5, 1.5]), ("FP32", [0.25, -1.5]), ("FP64", [1e-300, 2.5]),
    ("BYTES", ["hello", "wörld"]),
])
def test_all_13_datatypes_round_trip(client: AsgiClient, datatype: str, data: list[Any]
                                     ) -> None:
    r = infer(client, "identity", {"inputs": [{"name": "t", "shape": [2],
                                               "datatype": datatype, "data": data}]})
    assert r.status_code == 200, r.text
    out = r.json()["outputs"][0]
    assert out["datatype"] == datatype and out["shape"] == [2] and out["data"] == data


def test_requested_outputs_and_several_inputs(client: AsgiClient) -> None:
    # The request from the V2 protocol page, with input1's shape fixed to match its data.
    body = {"id": "42", "inputs": [
        {"name": "input0", "shape": [2, 2], "datatype": "UINT32", "data": [1, 2, 3, 4]},
        {"name": "input1", "shape": [1], "datatype": "BOOL", "data": [True]}],
        "outputs": [{"name": "input1"}]}
    out = infer(client, "identity", body).json()
    assert out["outputs"] == [{"name": "input1", "shape": [1], "datatype": "BOOL",
                               "data": [True]}]
    body["outputs"] = [{"name": "output0"}]
    r = infer(client, "identity", body)
    assert r.status_code == 400
    assert r.json()["error"].startswith("requested output 'output0' is not produced by model "
                                        "'identity'")
    assert "it produces: input0, input1" in r.json()["error"]


def test_the_doc_example_with_a_wrong_shape_is_a_clear_400(client: AsgiClient) -> None:
    body = {"id": "42", "inputs": [
        {"name": "input0", "shape": [2, 2], "datatype": "UINT32", "data": [1, 2, 3, 4]},
        {"name": "input1", "shape": [3], "datatype": "BOOL", "data": [True]}]}
    r = infer(client, "identity", body)
    assert r.status_code == 400
    assert r.json() == {"error": "input 'input1': shape [3] needs 3 elements but data has 1"}


@pytest.mark.parametrize(("body", "status", "message"), [
    ({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FLOAT", "data": IRIS_ROW}]}, 400,
     "input 'x': unknown datatype 'FLOAT'"),
    ({"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]}, 400,
     "input 'x' has shape [1, 3] (3 features per row); node 'classifier' expects shape "
     "[-1, 4]"),
    ({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": ["a", 1, 2, 3]}]},
     400, "input 'x': data is not FP32: it holds strings"),
    ({"inputs": [{"name": "x", "shape": [1, 2], "datatype": "INT8", "data": [1, 1000]}]},
     400, "input 'x': values out of range for INT8"),
    ({"inputs": [{"name": "x", "shape": [2], "datatype": "INT32", "data": [1.5, 2]}]},
     400, "input 'x': data is not INT32: it holds fractional numbers"),
    ({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32"}]}, 400,
     "input 'x': `data` is missing"),
    ({"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [[1, 2], [3]]}]},
     400, "input 'x': data is ragged or not FP32"),
    ({"inputs": [{"name": "x", "shape": [-1, 4], "datatype": "FP32", "data": IRIS_ROW}]}, 400,
     "input 'x': `shape` must be a list of non-negative integers, got [-1, 4]"),
    ({"inputs": []}, 400, "`inputs` must be a non-empty list"),
    ([1, 2], 400, "a V2 request is a JSON object, got list"),
])
def test_bad_v2_requests_say_what_and_where(client: AsgiClient, body: Any, status: int,
                                            message: str) -> None:
    r = infer(client, "classifier", body)
    assert r.status_code == status
    assert r.headers["content-type"] == "application/json"
    assert message in r.json()["error"]


def test_malformed_json_unknown_model_large_body_and_raising_model(client: AsgiClient) -> None:
    r = client.post("/v2/models/classifier/infer", content=b'{"inputs": [',
                    headers={"content-type": "application/json"})
    assert r.status_code == 400 and "malformed JSON in the request body" in r.json()["error"]
    r = infer(client, "nope", {"inputs": []})
    assert r.status_code == 404
    assert r.json()["error"].startswith("model 'nope' is not served here")
    assert "classifier" in r.json()["error"]
    r = infer(client, "classifier", {"inputs": [{"name": "x", "shape": [2000],
                                                 "datatype": "FP32", "data": [0.0] * 2000}]})
    assert r.status_code == 413 and "exceeds the limit of 4096 bytes" in r.json()["error"]

    async def chunked() -> Any:
        for _ in range(10):
            yield b" " * 1000
    r = client.post("/v2/models/classifier/infer", content=chunked())
    assert r.status_code == 413 and r.json()["error"].startswith(
        "request body exceeds the limit of 4096 bytes")
    r = infer(client, "boom", {"inputs": [{"name": "x", "shape": [1], "datatype": "FP32",
                                           "data": [1]}]})
    assert r.status_code == 500
    assert r.json() == {"error": "node 'boom': predict() raised RuntimeError: the model blew "
                                 "up on purpose"}
    assert client.get("/v2/health/live").status_code == 200  # still up
    r = infer(client, "unloadable", {"inputs": [{"name": "x", "shape": [1],
                                                 "datatype": "FP32", "data": [1]}]})
    assert r.status_code == 503 and "weights file is corrupt" in r.json()["error"]
    r = client.get("/v2/nothing-here")
    assert r.status_code == 404 and r.json() == {"error": "GET /v2/nothing-here: no such route"}


def test_binary_tensor_extension(client: AsgiClient) -> None:
    x = np.array([IRIS_ROW], dtype=np.float32)
    words = [b"ab", b""]
    blob_words = b"".join(struct.pack("<I", len(w)) + w for w in words)
    head = json.dumps({"inputs": [
        {"name": "x", "shape": [1, 4], "datatype": "FP32",
         "parameters": {"binary_data_size": 16}},
        {"name": "w", "shape": [2], "datatype": "BYTES",
         "parameters": {"binary_data_size": len(blob_words)}}],
        "outputs": [{"name": "x", "parameters": {"binary_data": True}},
                    {"name": "w", "parameters": {"binary_data": True}}]}).encode()
    r = client.post("/v2/models/identity/infer", content=head + x.tobytes() + blob_words,
                    headers={"Inference-Header-Content-Length": str(len(head))})
    assert r.status_code == 200, r.text
    n = int(r.headers["inference-header-content-length"])
    out = json.loads(r.content[:n])
    assert [o["parameters"]["binary_data_size"] for o in out["outputs"]] == [16, 10]
    got = np.frombuffer(r.content[n:n + 16], dtype="<f4").reshape(1, 4)
    assert np.array_equal(got, x) and r.content[n + 16:] == blob_words
    r = client.post("/v2/models/identity/infer", content=head + b"\0" * 3,
                    headers={"Inference-Header-Content-Length": str(len(head))})
    assert r.status_code == 400 and "binary_data_size 16 exceeds" in r.json()["error"]


# -- Seldon v1

def seldon(client: AsgiClient, body: Any, **kw: Any) -> Any:
    return client.post("/api/v1.0/predictions", json=body, **kw)


def test_seldon_ndarray_and_tensor(client: AsgiClient) -> None:
    r = seldon(client, {"data": {"names": ["a", "b", "c", "d"], "ndarray": [IRIS_ROW]}})
    body = r.json()
    assert r.status_code == 200 and body["data"] == {"names": [], "ndarray": [0]}
    assert body["meta"]["requestPath"] == {"classifier": "lr.joblib"}
    assert body["meta"]["predictor"] == "main" and body["meta"]["routing"] == {}
    r = seldon(client, {"data": {"tensor": {"shape": [1, 4], "values": IRIS_ROW}},
                        "meta": {"puid": "p-1", "tags": {"team": "a"}}})
    body = r.json()
    assert body["data"]["tensor"] == {"shape": [1], "values": [0]}
    assert body["meta"]["puid"] == "p-1" and body["meta"]["tags"] == {"team": "a"}


@pytest.mark.parametrize(("body", "expected"), [
    ({"strData": "hello"}, {"strData": "HELLO"}),
    ({"jsonData": {"a": [1, 2]}}, {"jsonData": {"a": [1, 2]}}),
    ({"binData": base64.b64encode(b"\x00\x01").decode()},
     {"binData": base64.b64encode(b"\x00\x01").decode()}),
])
def test_seldon_str_json_bin_forms(client: AsgiClient, body: Any, expected: Any) -> None:
    r = seldon(client, body, headers={"Seldon-Predictor": "echo"})
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["meta"]["predictor"] == "echo"
    assert {k: v for k, v in got.items() if k != "meta"} == expected


@pytest.mark.parametrize(("body", "message"), [
    ({"data": {"tensor": {"shape": [1, 4], "values": [1, 2]}}},
     "request.data.tensor: shape [1, 4] needs 4 values, got 2"),
    ({"data": {"ndarray": [[1, 2], [3]]}}, "request.data.ndarray is ragged"),
    ({"binData": "%%%"}, "request.binData is not valid base64"),
    ({"strData": "a", "jsonData": {}}, "exactly one of data, strData, jsonData, binData"),
    ({"data": {"names": ["a"]}}, "request.data needs `ndarray` or `tensor`"),
])
def test_bad_seldon_requests(client: AsgiClient, body: Any, message: str) -> None:
    r = seldon(client, body)
    assert r.status_code == 400 and message in r.json()["error"]


def test_unknown_predictor_header_is_404(client: AsgiClient) -> None:
    r = seldon(client, {"data": {"ndarray": [IRIS_ROW]}}, headers={"X-Flowyard-Predictor": "x"})
    assert r.status_code == 404
    assert "predictor 'x' (named by the request header) does not exist" in r.json()["error"]


def test_metrics_count_nodes(client: AsgiClient) -> None:
    seldon(client, {"data": {"ndarray": [IRIS_ROW]}})
    text = client.get("/metrics").text
    assert ('flowyard_node_requests_total{graph="iris",node="classifier",outcome="ok",'
            'predictor="main"}') in text
    assert "flowyard_node_latency_seconds_bucket" in text


def test_seldon_feedback_over_http_moves_the_bandit(make_engine: Callable[..., GraphEngine],
                                                    tmp_path: Any) -> None:
    from flowyard.serving import JsonFileStateStore

    arms = [py_node(f"arm{i}", "Constant", parameters=[{"name": "value", "value": str(i),
                                                         "type": "FLOAT"}]) for i in (0, 1)]
    engine = make_engine({"predictors": [{"name": "main", "graph": {
        "name": "eg", "implementation": "EPSILON_GREEDY", "children": arms,
        "parameters": [{"name": "epsilon", "value": "0.2", "type": "FLOAT"},
                       {"name": "seed", "value": "3", "type": "INT"}]}}]},
        name="bandit", state_store=JsonFileStateStore(tmp_path / "state"))
    c = AsgiClient(build_app(engine, load=False))
    try:
        served = []
        for i in range(120):
            request = {"data": {"ndarray": [[1.0, 2.0], [3.0, 4.0]]}}
            response = c.post("/api/v1.0/predictions", json=request).json()
            arm = response["meta"]["routing"]["eg"]
            served.append(arm)
            assert response["data"]["ndarray"] == [[float(arm)], [float(arm)]]
            # send only the puid half the time: the server remembers the routing
            sent = response if i % 2 else {"meta": {"puid": response["meta"]["puid"]}}
            r = c.post("/api/v1.0/feedback", json={"request": request, "response": sent,
                                                   "reward": 1.0 if arm == 1 else 0.0})
            assert r.status_code == 200, r.text
            assert r.json()["meta"]["routing"] == {"eg": arm}
        assert served[-50:].count(1) > 35, served
        saved = json.loads((tmp_path / "state" / "bandit.state.json").read_text())
        assert saved["main/eg"]["best"] == 1
        bad = c.post("/api/v1.0/feedback", json={"request": {"data": {"ndarray": [[1]]}},
                                                 "reward": "good"})
        assert bad.status_code == 400
        assert bad.json()["error"] == "feedback.reward must be a number, got 'good'"
        text = c.get("/metrics").text
        assert 'flowyard_feedback_total{graph="bandit",node="eg",predictor="main"} 120.0' in text
    finally:
        c.close()
