"""Seldon Core v1 protocol: SeldonMessage <-> Payload, and feedback bodies.

    {"data": {"names": [...], "ndarray": [[...]]}, "meta": {...}}
    {"data": {"tensor": {"shape": [1, 4], "values": [...]}}}
    {"strData": "..."} | {"jsonData": {...}} | {"binData": "<base64>"}

A response uses the request's form when the result fits it (ndarray stays ndarray, tensor
stays tensor); strings go back as strData, bytes as binData, anything else as jsonData.
"""

from __future__ import annotations

import base64
import binascii
import math
from typing import Any

import numpy as np

from flowyard.errors import InvalidInput
from flowyard.serving.types import Feedback, Payload, Prediction

FORMS = ("ndarray", "tensor", "strData", "jsonData", "binData")


def decode_message(body: Any, where: str = "request") -> tuple[Payload, str]:
    """A SeldonMessage -> (payload, the form it used)."""
    if not isinstance(body, dict):
        raise InvalidInput(f"{where}: a Seldon message is a JSON object with `data`, "
                           "`strData`, `jsonData` or `binData`")
    meta = body.get("meta") or {}
    if not isinstance(meta, dict):
        raise InvalidInput(f"{where}.meta must be an object")
    meta = dict(meta)
    present = [k for k in ("data", "strData", "jsonData", "binData") if k in body]
    if len(present) != 1:
        raise InvalidInput(f"{where}: exactly one of data, strData, jsonData, binData is "
                           f"required, got {present or 'none'}")
    key = present[0]
    if key == "strData":
        if not isinstance(body[key], str):
            raise InvalidInput(f"{where}.strData must be a string")
        return Payload(body[key], meta=meta), "strData"
    if key == "jsonData":
        return Payload(body[key], meta=meta), "jsonData"
    if key == "binData":
        try:
            raw = base64.b64decode(body[key], validate=True)
        except (binascii.Error, TypeError, ValueError) as exc:
            raise InvalidInput(f"{where}.binData is not valid base64: {exc}") from exc
        return Payload(raw, meta=meta), "binData"
    data = body["data"]
    if not isinstance(data, dict):
        raise InvalidInput(f"{where}.data must be an object with `ndarray` or `tensor`")
    names = data.get("names") or []
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise InvalidInput(f"{where}.data.names must be a list of strings")
    if "ndarray" in data:
        try:
            arr = np.asarray(data["ndarray"])
        except ValueError as exc:
            raise InvalidInput(f"{where}.data.ndarray is ragged: {exc}") from exc
        if arr.dtype.kind == "U":
            arr = arr.astype(object)
        return Payload(arr, names=names, meta=meta), "ndarray"
    if "tensor" in data:
        tensor = data["tensor"]
        if not isinstance(tensor, dict):
            raise InvalidInput(f"{where}.data.tensor must be {{shape, values}}")
        shape, values = tensor.get("shape"), tensor.get("values")
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise InvalidInput(f"{where}.data.tensor.shape must be a list of non-negative "
                               f"integers, got {shape!r}")
        if not isinstance(values, list) or not all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            raise InvalidInput(f"{where}.data.tensor.values must be a flat list of numbers")
        if len(values) != math.prod(shape):
            raise InvalidInput(f"{where}.data.tensor: shape {shape} needs {math.prod(shape)} "
                               f"values, got {len(values)}")
        return Payload(np.asarray(values, dtype=np.float64).reshape(shape), names=names,
                       meta=meta), "tensor"
    raise InvalidInput(f"{where}.data needs `ndarray` or `tensor`",
                       hint='e.g. {"data": {"ndarray": [[5.1, 3.5, 1.4, 0.2]]}}')


def encode_prediction(pred: Prediction, form: str) -> dict[str, Any]:
    out: dict[str, Any] = {"meta": pred.meta()}
    value = pred.data
    if isinstance(value, str):
        out["strData"] = value
    elif isinstance(value, bytes):
        out["binData"] = base64.b64encode(value).decode()
    elif isinstance(value, np.ndarray | np.generic) or (
            isinstance(value, list) and form in ("ndarray", "tensor")):
        arr = np.asarray(value)
        if form == "tensor" and arr.dtype.kind in "biuf":
            out["data"] = {"names": pred.names,
                           "tensor": {"shape": list(arr.shape),
                                      "values": arr.ravel().tolist()}}
        else:
            out["data"] = {"names": pred.names, "ndarray": _plain(arr.tolist())}
    else:
        out["jsonData"] = _plain(value)
    return out


def _plain(value: Any) -> Any:
    """JSON-safe copy: numpy scalars/arrays and bytes inside jsonData become plain values."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray | np.generic):
        return _plain(value.tolist())
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def decode_feedback(body: Any) -> Feedback:
    """{request, response, reward, truth} -> Feedback; routing comes from response.meta."""
    if not isinstance(body, dict):
        raise InvalidInput("feedback is a JSON object {request, response, reward, truth}")
    reward = body.get("reward")
    if not isinstance(reward, int | float) or isinstance(reward, bool) or math.isnan(reward):
        raise InvalidInput(f"feedback.reward must be a number, got {reward!r}")
    if "request" not in body:
        raise InvalidInput("feedback.request is missing: send the request that was predicted")
    request, _ = decode_message(body["request"], "feedback.request")
    response = body.get("response") or {}
    if not isinstance(response, dict):
        raise InvalidInput("feedback.response must be a Seldon message object")
    rmeta = response.get("meta") or {}
    routing = rmeta.get("routing") if isinstance(rmeta, dict) else None
    if routing is not None and (not isinstance(routing, dict) or not all(
            isinstance(v, int) for v in routing.values())):
        raise InvalidInput("feedback.response.meta.routing must map node names to child "
                           f"indexes, got {routing!r}")
    puid = rmeta.get("puid") if isinstance(rmeta, dict) else None
    truth = None
    if body.get("truth") is not None:
        truth = decode_message(body["truth"], "feedback.truth")[0].data
    predictor = rmeta.get("predictor") if isinstance(rmeta, dict) else None
    return Feedback(request=request, reward=float(reward), routing=routing,
                    puid=puid if isinstance(puid, str) else None,
                    predictor=predictor if isinstance(predictor, str) else None, truth=truth)
