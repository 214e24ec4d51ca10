"""Open Inference Protocol V2 over gRPC (`inference.GRPCInferenceService`).

The message and service classes are the ones `tritonclient[grpc]` ships, generated from the
official proto, so nothing is vendored or generated here. Handlers translate protobuf
messages to the same `v2.InferRequest` the REST adapter builds and call the same
`DataPlane`; errors map from the Flowyard tree to gRPC status codes once, below.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from flowyard.errors import ConfigError, FlowyardError, InvalidInput
from flowyard.serving.dataplane import DataPlane
from flowyard.serving.protocols import v2


def modules() -> tuple[Any, Any, Any]:
    try:
        import grpc
        from tritonclient.grpc import service_pb2, service_pb2_grpc
    except ImportError as exc:
        raise ConfigError("V2 over gRPC needs grpcio and tritonclient's generated service "
                          f"modules: {exc}", hint="pip install 'flowyard[grpc]'") from exc
    return grpc, service_pb2, service_pb2_grpc


_CONTENTS = {
    "BOOL": "bool_contents", "INT8": "int_contents", "INT16": "int_contents",
    "INT32": "int_contents", "INT64": "int64_contents", "UINT8": "uint_contents",
    "UINT16": "uint_contents", "UINT32": "uint_contents", "UINT64": "uint64_contents",
    "FP32": "fp32_contents", "FP64": "fp64_contents", "BYTES": "bytes_contents",
}


def _param_value(p: Any) -> Any:
    kind = p.WhichOneof("parameter_choice")
    return getattr(p, kind) if kind else None


def decode_request(msg: Any) -> v2.InferRequest:
    """ModelInferRequest -> InferRequest (typed contents or raw_input_contents)."""
    raw = list(msg.raw_input_contents)
    if raw and len(raw) != len(msg.inputs):
        raise InvalidInput(f"raw_input_contents has {len(raw)} entries for {len(msg.inputs)} "
                           "inputs; send all inputs raw or none")
    if not msg.inputs:
        raise InvalidInput("`inputs` must hold at least one tensor")
    inputs: dict[str, np.ndarray] = {}
    for i, t in enumerate(msg.inputs):
        label = f"input {t.name!r}"
        dtype = v2.DATATYPES.get(t.datatype)
        if dtype is None:
            raise InvalidInput(f"{label}: unknown datatype {t.datatype!r}",
                               hint=f"one of {', '.join(v2.DATATYPES)}")
        shape = [int(d) for d in t.shape]
        if any(d < 0 for d in shape):
            raise InvalidInput(f"{label}: shape must be non-negative integers, got {shape}")
        if t.name in inputs:
            raise InvalidInput(f"inputs[{i}]: duplicate input name {t.name!r}")
        count = math.prod(shape)
        if raw:
            inputs[t.name] = v2.from_binary(label, memoryview(raw[i]), t.datatype, dtype,
                                            shape, count)
            continue
        field = _CONTENTS.get(t.datatype)
        if field is None:
            raise InvalidInput(f"{label}: {t.datatype} travels in raw_input_contents only")
        values = list(getattr(t.contents, field))
        inputs[t.name] = v2.from_json(label, values, t.datatype, dtype, shape, count)
    outputs = None
    if msg.outputs:
        outputs = [v2.RequestedOutput(o.name, True) for o in msg.outputs]
    params = {k: _param_value(v) for k, v in msg.parameters.items()}
    return v2.InferRequest(id=msg.id or None, inputs=inputs, parameters=params,
                           outputs=outputs, binary_output=True)


def _set_param(target: Any, value: Any) -> None:
    if isinstance(value, bool):
        target.bool_param = value
    elif isinstance(value, int):
        target.int64_param = value
    elif isinstance(value, float):
        target.double_param = value
    else:
        import json

        target.string_param = value if isinstance(value, str) else json.dumps(value)


def status_code(grpc: Any, exc: FlowyardError) -> Any:
    """The one mapping from the error tree's HTTP status to a gRPC status code."""
    return {400: grpc.StatusCode.INVALID_ARGUMENT, 404: grpc.StatusCode.NOT_FOUND,
            409: grpc.StatusCode.FAILED_PRECONDITION, 413: grpc.StatusCode.RESOURCE_EXHAUSTED,
            502: grpc.StatusCode.UNAVAILABLE, 503: grpc.StatusCode.UNAVAILABLE,
            }.get(exc.status, grpc.StatusCode.INTERNAL)


def make_servicer(dp: DataPlane) -> Any:
    grpc, pb, pb_grpc = modules()

    async def guard(context: Any, call: Any) -> Any:
        try:
            return await call()
        except FlowyardError as exc:
            await context.abort(status_code(grpc, exc), str(exc))
        except Exception as exc:  # unknown failures: INTERNAL with the type and message
            await context.abort(grpc.StatusCode.INTERNAL,
                                f"internal error: {type(exc).__name__}: {exc}")

    base: Any = pb_grpc.GRPCInferenceServiceServicer

    class Servicer(base):  # type: ignore[misc]
        async def ServerLive(self, request: Any, context: Any) -> Any:
            return pb.ServerLiveResponse(live=dp.live())

        async def ServerReady(self, request: Any, context: Any) -> Any:
            return pb.ServerReadyResponse(ready=dp.not_ready() is None)

        async def ModelReady(self, request: Any, context: Any) -> Any:
            async def call() -> Any:
                reason = dp.model_not_ready(request.name, request.version or None)
                return pb.ModelReadyResponse(ready=reason is None)
            return await guard(context, call)

        async def ServerMetadata(self, request: Any, context: Any) -> Any:
            meta = dp.server_metadata()
            return pb.ServerMetadataResponse(name=meta["name"], version=meta["version"],
                                             extensions=meta["extensions"])

        async def ModelMetadata(self, request: Any, context: Any) -> Any:
            async def call() -> Any:
                meta = dp.model_metadata(request.name, request.version or None)
                tensors = [[pb.ModelMetadataResponse.TensorMetadata(
                    name=t.get("name", ""), datatype=t.get("datatype", ""),
                    shape=[int(d) for d in t.get("shape", [])]) for t in meta[key]]
                    for key in ("inputs", "outputs")]
                return pb.ModelMetadataResponse(name=meta["name"], versions=meta["versions"],
                                                platform=meta["platform"],
                                                inputs=tensors[0], outputs=tensors[1])
            return await guard(context, call)

        async def RepositoryIndex(self, request: Any, context: Any) -> Any:
            return pb.RepositoryIndexResponse(models=[
                pb.RepositoryIndexResponse.ModelIndex(
                    name=m["name"], version=m["version"], state=m["state"],
                    reason=m.get("reason", "")) for m in dp.repository_index()])

        async def ModelInfer(self, request: Any, context: Any) -> Any:
            async def call() -> Any:
                name, version = request.model_name, request.model_version or None
                dp.check_model(name, version)
                req = decode_request(request)
                outputs, params = await dp.infer(name, version, req)
                resp = pb.ModelInferResponse(model_name=name, model_version=version or "",
                                             id=request.id)
                for key, value in params.items():
                    _set_param(resp.parameters[key], value)
                for out_name, _ in v2.select_outputs(name, req, outputs):
                    tensor, blob = v2.encode_tensor(out_name, outputs[out_name], binary=True)
                    resp.outputs.add(name=out_name, datatype=tensor["datatype"],
                                     shape=tensor["shape"])
                    resp.raw_output_contents.append(blob)
                return resp
            return await guard(context, call)

    return Servicer()


async def start_grpc(dp: DataPlane, host: str, port: int,
                     max_message_bytes: int = 64 * 1024 * 1024) -> Any:
    """Start an aio gRPC server for `dp` on host:port; returns it (call `stop`). Messages
    over `max_message_bytes` are refused by gRPC with RESOURCE_EXHAUSTED."""
    grpc, _, pb_grpc = modules()
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", max_message_bytes)])
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(make_servicer(dp), server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise ConfigError(f"cannot listen for gRPC on {host}:{port}")
    await server.start()
    return server
