"""Open Inference Protocol V2 (KServe/Triton) codecs, numpy based.

JSON tensors carry `data` nested or flat; Triton's binary tensor extension is also read and
written (`Inference-Header-Content-Length`, `binary_data_size`, `binary_data`), because
`tritonclient` sends binary tensors by default.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from flowyard.errors import InvalidInput
from flowyard.serving.errors import ModelError

DATATYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8), "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32), "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8), "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32), "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16), "FP32": np.dtype(np.float32), "FP64": np.dtype(np.float64),
    "BYTES": np.dtype(object),
}
_BY_DTYPE = {dt: name for name, dt in DATATYPES.items() if name != "BYTES"}
_NARROW_INTS = {"INT8", "INT16", "INT32", "UINT8", "UINT16", "UINT32", "UINT64"}
HEADER_LENGTH = "inference-header-content-length"


@dataclass
class RequestedOutput:
    name: str
    binary: bool = False


@dataclass
class InferRequest:
    id: str | None
    inputs: dict[str, np.ndarray]
    parameters: dict[str, Any] = field(default_factory=dict)
    outputs: list[RequestedOutput] | None = None
    binary_output: bool = False
    """The request's default for outputs it does not list (`binary_data_output`)."""


_ORJSON_OPTS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def dumps_json(obj: Any) -> bytes:
    """Compact JSON; orjson first (the hot path), the stdlib for what orjson refuses (ints
    beyond 64 bits, odd key types)."""
    try:
        return orjson.dumps(obj, option=_ORJSON_OPTS)
    except TypeError:
        return json.dumps(obj, separators=(",", ":"), default=str).encode()


def loads_json(body: bytes | str, what: str = "request body") -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass  # the stdlib accepts NaN/Infinity literals and gives the friendlier message
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"malformed JSON in the {what}: {exc}",
                           hint="send a JSON object, e.g. {\"inputs\": [...]}") from exc


def decode_request(body: bytes, header_length: int | None = None) -> InferRequest:
    """Parse a V2 infer request (JSON, or JSON header + binary tensors)."""
    if header_length is not None:
        if not 0 < header_length <= len(body):
            raise InvalidInput(f"Inference-Header-Content-Length is {header_length} but the "
                               f"body has {len(body)} bytes")
        head, tail = loads_json(body[:header_length]), memoryview(body)[header_length:]
    else:
        head, tail = loads_json(body), memoryview(b"")
    if not isinstance(head, dict):
        raise InvalidInput(f"a V2 request is a JSON object, got {type(head).__name__}")
    raw_inputs = head.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise InvalidInput("`inputs` must be a non-empty list of tensors "
                           "({name, shape, datatype, data})", hint="see "
                           "https://kserve.github.io/website/latest/modelserving/"
                           "data_plane/v2_protocol/")
    inputs: dict[str, np.ndarray] = {}
    offset = 0
    for i, raw in enumerate(raw_inputs):
        name, arr, offset = decode_tensor(raw, f"inputs[{i}]", tail, offset)
        if name in inputs:
            raise InvalidInput(f"inputs[{i}]: duplicate input name {name!r}")
        inputs[name] = arr
    if offset != len(tail):
        raise InvalidInput(f"binary body has {len(tail)} bytes after the JSON header but the "
                           f"inputs' binary_data_size add up to {offset}")
    params = head.get("parameters") or {}
    if not isinstance(params, dict):
        raise InvalidInput("`parameters` must be a JSON object")
    outputs = None
    if head.get("outputs") is not None:
        if not isinstance(head["outputs"], list):
            raise InvalidInput("`outputs` must be a list of {name, parameters}")
        outputs = []
        for i, out in enumerate(head["outputs"]):
            if not isinstance(out, dict) or not isinstance(out.get("name"), str):
                raise InvalidInput(f"outputs[{i}] needs a string `name`")
            oparams = out.get("parameters") or {}
            outputs.append(RequestedOutput(out["name"], bool(oparams.get("binary_data"))))
    rid = head.get("id")
    return InferRequest(id=str(rid) if rid is not None else None, inputs=inputs,
                        parameters=params, outputs=outputs,
                        binary_output=bool(params.get("binary_data_output", False)))


def decode_tensor(raw: Any, where: str, tail: memoryview = memoryview(b""),
                  offset: int = 0) -> tuple[str, np.ndarray, int]:
    """One request tensor -> (name, array, next binary offset)."""
    if not isinstance(raw, dict):
        raise InvalidInput(f"{where}: a tensor is an object {{name, shape, datatype, data}}")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"{where}: `name` is missing or not a string")
    label = f"input {name!r}"
    shape = raw.get("shape")
    if not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise InvalidInput(f"{label}: `shape` must be a list of non-negative integers, got "
                           f"{shape!r}")
    datatype = raw.get("datatype")
    dtype = DATATYPES.get(datatype) if isinstance(datatype, str) else None
    if dtype is None or not isinstance(datatype, str):
        raise InvalidInput(f"{label}: unknown datatype {datatype!r}",
                           hint=f"one of {', '.join(DATATYPES)}")
    count = math.prod(shape)
    params = raw.get("parameters") or {}
    size = params.get("binary_data_size") if isinstance(params, dict) else None
    if size is not None:
        if not isinstance(size, int) or size < 0 or offset + size > len(tail):
            raise InvalidInput(f"{label}: binary_data_size {size!r} exceeds the "
                               f"{len(tail) - offset} bytes left in the body")
        chunk = tail[offset:offset + size]
        return name, from_binary(label, chunk, datatype, dtype, shape, count), offset + size
    if "data" not in raw:
        raise InvalidInput(f"{label}: `data` is missing")
    return name, from_json(label, raw["data"], datatype, dtype, shape, count), offset


def from_json(label: str, data: Any, datatype: str, dtype: np.dtype[Any], shape: list[int],
               count: int) -> np.ndarray:
    if not isinstance(data, list):
        data = [data]
    try:
        if datatype == "BYTES":
            raw = np.array(data, dtype=object)
            if raw.size and not all(isinstance(v, str | bytes) for v in raw.flat):
                raise InvalidInput(f"{label}: BYTES data must be strings")
            arr = raw
        else:
            raw = np.asarray(data)
            kind = raw.dtype.kind
            if raw.size and kind not in "biuf":
                raise InvalidInput(f"{label}: data is not {datatype}: it holds "
                                   f"{'strings' if kind in 'US' else 'mixed values'}",
                                   hint="send numbers, e.g. [1.0, 2.5]")
            if raw.size and datatype == "BOOL" and kind != "b":
                raise InvalidInput(f"{label}: BOOL data must be true/false")
            if raw.size and datatype.startswith(("INT", "UINT")) and kind == "f":
                # JSON integers beyond int64 arrive as floats; exact ones are fine
                arr = np.array(data, dtype=dtype)
                if not np.array_equal(arr, raw):
                    raise InvalidInput(f"{label}: data is not {datatype}: it holds fractional "
                                       "numbers", hint="use datatype FP32 or FP64")
            else:
                arr = raw.astype(dtype, copy=False)
            if datatype in _NARROW_INTS and raw.size and not np.array_equal(arr, raw):
                raise InvalidInput(f"{label}: values out of range for {datatype}")
    except (ValueError, OverflowError, TypeError) as exc:
        raise InvalidInput(f"{label}: data is ragged or not {datatype}: {exc}") from exc
    if arr.size != count:
        raise InvalidInput(f"{label}: shape {shape} needs {count} elements but data has "
                           f"{arr.size}")
    return arr.reshape(shape)


def from_binary(label: str, chunk: memoryview, datatype: str, dtype: np.dtype[Any],
                 shape: list[int], count: int) -> np.ndarray:
    if datatype == "BYTES":
        items: list[bytes] = []
        pos, data = 0, bytes(chunk)
        while pos < len(data):
            if pos + 4 > len(data):
                raise InvalidInput(f"{label}: truncated BYTES element length")
            (n,) = struct.unpack_from("<I", data, pos)
            items.append(data[pos + 4:pos + 4 + n])
            pos += 4 + n
        if len(items) != count:
            raise InvalidInput(f"{label}: shape {shape} needs {count} elements but the binary "
                               f"data holds {len(items)}")
        arr = np.empty(count, dtype=object)
        arr[:] = items
        return arr.reshape(shape)
    wire = dtype.newbyteorder("<")
    if len(chunk) != count * wire.itemsize:
        raise InvalidInput(f"{label}: shape {shape} of {datatype} needs "
                           f"{count * wire.itemsize} bytes, binary data has {len(chunk)}")
    return np.frombuffer(chunk, dtype=wire).astype(dtype, copy=False).reshape(shape)


def as_array(value: Any, where: str) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, str | bytes):
        arr = np.empty(1, dtype=object)
        arr[0] = value
        return arr
    try:
        return np.asarray(value)
    except ValueError as exc:
        raise ModelError(f"{where} returned a value that is not a tensor: {exc}") from exc


def datatype_of(arr: np.ndarray, where: str) -> str:
    if arr.dtype.kind in "OUS":
        return "BYTES"
    found = _BY_DTYPE.get(arr.dtype.newbyteorder("="))
    if found is None:
        raise ModelError(f"{where}: output dtype {arr.dtype} has no V2 datatype",
                         hint=f"return one of {', '.join(DATATYPES)}")
    return found


def encode_tensor(name: str, arr: np.ndarray, binary: bool) -> tuple[dict[str, Any], bytes]:
    datatype = datatype_of(arr, f"output {name!r}")
    out: dict[str, Any] = {"name": name, "shape": list(arr.shape), "datatype": datatype}
    if binary:
        if datatype == "BYTES":
            parts = []
            for v in arr.flat:
                b = v if isinstance(v, bytes) else str(v).encode()
                parts.append(struct.pack("<I", len(b)) + b)
            blob = b"".join(parts)
        else:
            blob = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")).tobytes()
        out["parameters"] = {"binary_data_size": len(blob)}
        return out, blob
    if datatype == "BYTES":
        out["data"] = [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
                       for v in arr.flat]
    else:
        out["data"] = arr.ravel().tolist()
    return out, b""


def select_outputs(model_name: str, request: InferRequest, outputs: dict[str, np.ndarray]
                   ) -> list[tuple[str, bool]]:
    """(output name, binary?) in response order: the requested outputs, or all of them."""
    wanted = request.outputs
    if wanted is None:
        return [(name, request.binary_output) for name in outputs]
    unknown = [o.name for o in wanted if o.name not in outputs]
    if unknown:
        raise InvalidInput(f"requested output {unknown[0]!r} is not produced by model "
                           f"{model_name!r}", hint=f"it produces: {', '.join(outputs)}")
    return [(o.name, o.binary) for o in wanted]


def encode_response(*, model_name: str, model_version: str | None, request: InferRequest,
                    outputs: dict[str, np.ndarray], parameters: dict[str, Any]
                    ) -> tuple[bytes, int | None]:
    """Response body and, when any output is binary, the JSON header's length."""
    selected = select_outputs(model_name, request, outputs)
    tensors, blobs = [], []
    for name, binary in selected:
        tensor, blob = encode_tensor(name, outputs[name], binary)
        tensors.append(tensor)
        if blob:
            blobs.append(blob)
    head: dict[str, Any] = {"model_name": model_name}
    if model_version is not None:
        head["model_version"] = model_version
    if request.id is not None:
        head["id"] = request.id
    if parameters:
        head["parameters"] = parameters
    head["outputs"] = tensors
    text = dumps_json(head)
    if any(t.get("parameters") for t in tensors):
        return text + b"".join(blobs), len(text)
    return text, None
