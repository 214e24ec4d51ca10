"""A small synchronous client for a serving endpoint (what `flowyard predict` calls).

    predict("http://127.0.0.1:8080", "iris", [[5.1, 3.5, 1.4, 0.2]])
    predict(url, "iris", {"strData": "hi"}, protocol="seldon", predictor="canary")
    with LocalGraph("graph.yaml") as graph:             # no server: the graph in-process
        answer = predict(graph, "iris", [[5.1, 3.5, 1.4, 0.2]])
        feedback(graph, [[5.1, 3.5, 1.4, 0.2]], answer, reward=1.0)
"""

from __future__ import annotations

import json
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import httpx
import numpy as np

from flowyard.errors import FlowyardError, InvalidInput, NotFound
from flowyard.serving.errors import ModelError, ModelNotReady, RemoteError, Unreachable
from flowyard.serving.protocols import v2

ProtocolName = Literal["v2", "seldon"]
_BY_STATUS: dict[int, type[FlowyardError]] = {400: InvalidInput, 404: NotFound,
                                              503: ModelNotReady, 500: ModelError}


class LocalGraph:
    """An InferenceGraph file loaded in this process and called without a socket."""

    def __init__(self, path: str | Path, **engine_options: Any) -> None:
        import asyncio

        from flowyard.serving.config import load_graph
        from flowyard.serving.server import build_app, build_engine

        file = Path(path)
        self.url = f"graph:{file}"
        self.engine = build_engine(load_graph(file), base_dir=file.resolve().parent,
                                   **engine_options)
        self.engine.load()
        app = build_app(self.engine, load=False)
        self._runner = asyncio.Runner()
        self._client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                         base_url="http://graph")

    def post(self, path: str, content: str, headers: dict[str, str]) -> httpx.Response:
        return self._runner.run(self._client.post(path, content=content, headers=headers))

    def get(self, path: str) -> httpx.Response:
        return self._runner.run(self._client.get(path))

    def close(self) -> None:
        async def shutdown() -> None:
            await self.engine.idle()  # let shadow predictors finish
            await self.engine.aclose()
            await self._client.aclose()

        self._runner.run(shutdown())
        self._runner.close()

    def __enter__(self) -> LocalGraph:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


Endpoint = str | LocalGraph


def v2_request(data: Any, input_name: str = "input-0") -> dict[str, Any]:
    """A V2 request body: a ready body (has `inputs`) or array-like data as one tensor."""
    if isinstance(data, dict) and "inputs" in data:
        return data
    arr = np.asarray(data)
    if arr.dtype.kind in "US":
        arr = arr.astype(object)
    tensor, _ = v2.encode_tensor(input_name, arr, binary=False)
    return {"inputs": [tensor]}


def seldon_request(data: Any) -> dict[str, Any]:
    """A Seldon message: a ready one (data/strData/jsonData/binData) or an ndarray."""
    if isinstance(data, dict) and {"data", "strData", "jsonData", "binData"} & set(data):
        return data
    if isinstance(data, str):
        return {"strData": data}
    if isinstance(data, dict) and isinstance(data.get("inputs"), list) and data["inputs"]:
        first = data["inputs"][0]  # a V2 body: its first tensor, in its declared shape
        return {"data": {"ndarray": np.asarray(first.get("data")).reshape(
            first.get("shape", [-1])).tolist()}}
    return {"data": {"ndarray": np.asarray(data).tolist()}}


def _post(endpoint: Endpoint, path: str, body: dict[str, Any],
          predictor: str | None, timeout: float) -> dict[str, Any]:
    headers = {"content-type": "application/json"}
    if predictor:
        headers["x-flowyard-predictor"] = predictor
    content = json.dumps(body)
    if isinstance(endpoint, LocalGraph):
        where = endpoint.url + " " + path
        resp = endpoint.post(path, content, headers)
    else:
        where = endpoint.rstrip("/") + path
        try:
            resp = httpx.post(where, content=content, headers=headers, timeout=timeout)
        except httpx.HTTPError as exc:
            raise Unreachable(f"{where}: {type(exc).__name__}: {exc}",
                              hint="is the server running? start it with "
                                   "`flowyard serve GRAPH.yaml --port PORT`") from exc
    try:
        answer = resp.json()
    except ValueError as exc:
        raise RemoteError(f"{where} answered {resp.status_code} with non-JSON "
                          f"{resp.text[:200]!r}") from exc
    if resp.status_code >= 400:
        message = answer.get("error") if isinstance(answer, dict) else None
        cls = _BY_STATUS.get(resp.status_code, RemoteError)
        raise cls(f"{where} answered {resp.status_code}: {message or answer}")
    if not isinstance(answer, dict):
        raise RemoteError(f"{where} answered a JSON {type(answer).__name__}, not an object")
    return answer


def predict(endpoint: Endpoint, model: str | None, data: Any, *,
            protocol: ProtocolName = "v2", predictor: str | None = None,
            timeout: float = 30.0) -> dict[str, Any]:
    """Send one prediction and return the decoded JSON answer; errors keep their status."""
    if protocol == "seldon":
        path, body = "/api/v1.0/predictions", seldon_request(data)
    else:
        if not model:
            raise InvalidInput("a V2 prediction needs the model name",
                               hint="the graph name routes through all predictors")
        path, body = f"/v2/models/{model}/infer", v2_request(data)
    return _post(endpoint, path, body, predictor, timeout)


def feedback(endpoint: Endpoint, data: Any, answer: dict[str, Any], reward: float, *,
             truth: Any = None, timeout: float = 30.0) -> dict[str, Any]:
    """Seldon feedback for a prediction `answer` (V2 or Seldon) of `data`: the reward goes
    to the branch that served it (its routing, predictor and puid)."""
    meta = answer.get("meta") if isinstance(answer.get("meta"), dict) else None
    if meta is None:  # a V2 answer carries them in `parameters`
        params = answer.get("parameters") or {}
        meta = {k: params[k] for k in ("puid", "routing", "predictor") if k in params}
    body: dict[str, Any] = {"request": seldon_request(data), "response": {"meta": meta},
                            "reward": reward}
    if truth is not None:
        body["truth"] = seldon_request(truth)
    return _post(endpoint, "/api/v1.0/feedback", body, None, timeout)
