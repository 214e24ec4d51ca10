"""A small synchronous client for a serving endpoint (what `flowyard predict` will call).

    predict("http://127.0.0.1:8080", "iris", [[5.1, 3.5, 1.4, 0.2]])
    predict(url, "iris", {"strData": "hi"}, protocol="seldon", predictor="canary")
"""

from __future__ import annotations

import json
from typing import Any, Literal

import httpx
import numpy as np

from flowyard.errors import FlowyardError, InvalidInput, NotFound
from flowyard.serving.errors import ModelError, ModelNotReady, RemoteError
from flowyard.serving.protocols import v2

_BY_STATUS: dict[int, type[FlowyardError]] = {400: InvalidInput, 404: NotFound,
                                              503: ModelNotReady, 500: ModelError}


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
    return {"data": {"ndarray": np.asarray(data).tolist()}}


def predict(url: str, model: str | None, data: Any, *,
            protocol: Literal["v2", "seldon"] = "v2", predictor: str | None = None,
            timeout: float = 30.0) -> dict[str, Any]:
    """Send one prediction and return the decoded JSON answer; errors keep their status."""
    base = url.rstrip("/")
    headers = {"content-type": "application/json"}
    if predictor:
        headers["x-flowyard-predictor"] = predictor
    if protocol == "seldon":
        path, body = "/api/v1.0/predictions", seldon_request(data)
    else:
        if not model:
            raise InvalidInput("a V2 prediction needs the model name",
                               hint="the graph name routes through all predictors")
        path, body = f"/v2/models/{model}/infer", v2_request(data)
    try:
        resp = httpx.post(base + path, content=json.dumps(body), headers=headers,
                          timeout=timeout)
    except httpx.HTTPError as exc:
        raise RemoteError(f"{base + path}: {type(exc).__name__}: {exc}",
                          hint="is the server running? `python -m flowyard.serving GRAPH`"
                          ) from exc
    try:
        answer = resp.json()
    except ValueError as exc:
        raise RemoteError(f"{base + path} answered {resp.status_code} with non-JSON "
                          f"{resp.text[:200]!r}") from exc
    if resp.status_code >= 400:
        message = answer.get("error") if isinstance(answer, dict) else None
        cls = _BY_STATUS.get(resp.status_code, RemoteError)
        raise cls(f"{base + path} answered {resp.status_code}: {message or answer}")
    if not isinstance(answer, dict):
        raise RemoteError(f"{base + path} answered a JSON {type(answer).__name__}, not an "
                          "object")
    return answer
