"""A node served elsewhere: another V2 or Seldon endpoint, over pooled HTTP connections."""

from __future__ import annotations

import json
from typing import Any

import httpx
import numpy as np

from flowyard.errors import InvalidInput
from flowyard.resources.inference_graph import EndpointProtocol, Node
from flowyard.serving.errors import RemoteError
from flowyard.serving.protocols import seldon, v2
from flowyard.serving.runtimes.base import Runtime, RuntimeContext
from flowyard.serving.types import Prediction


class RemoteRuntime(Runtime):
    remote = True

    def __init__(self, node: Node, ctx: RuntimeContext) -> None:
        super().__init__(node, ctx)
        assert node.endpoint is not None  # the resource validator guarantees it
        self.endpoint = node.endpoint
        self.client: httpx.AsyncClient | None = None
        self.channel: Any = None
        self.stub: Any = None

    def describe(self) -> str:
        return self.endpoint.url

    def load(self) -> None:
        # Created lazily in the serving event loop; nothing to fetch at load time.
        return None

    def _client(self) -> httpx.AsyncClient:
        if self.client is None:
            self.client = httpx.AsyncClient(
                base_url=self.endpoint.url, timeout=self.endpoint.timeout,
                transport=self.ctx.http_transport,
                limits=httpx.Limits(max_connections=64, max_keepalive_connections=32))
        return self.client

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.aclose()
            self.client = None
        if self.channel is not None:
            await self.channel.close()
            self.channel, self.stub = None, None

    async def call_remote(self, X: Any, names: list[str], meta: dict[str, Any]
                          ) -> tuple[Any, list[str]]:
        if self.endpoint.protocol is EndpointProtocol.SELDON:
            return await self._seldon(X, names, meta)
        if self.endpoint.protocol is EndpointProtocol.GRPC:
            return await self._grpc(X)
        return await self._v2(X)

    async def _grpc(self, X: Any) -> tuple[Any, list[str]]:
        from flowyard.serving.protocols.v2_grpc import modules

        grpc, pb, pb_grpc = modules()
        if self.stub is None:
            # one channel per node: HTTP/2 multiplexes concurrent calls over it
            self.channel = grpc.aio.insecure_channel(self.endpoint.url[len("grpc://"):])
            self.stub = pb_grpc.GRPCInferenceServiceStub(self.channel)
        arrays = X if isinstance(X, dict) else {"input-0": v2.as_array(X, self.name)}
        request = pb.ModelInferRequest(model_name=self.endpoint.model_name or self.name)
        for name, arr in arrays.items():
            tensor, blob = v2.encode_tensor(name, np.asarray(arr), binary=True)
            request.inputs.add(name=name, datatype=tensor["datatype"], shape=tensor["shape"])
            request.raw_input_contents.append(blob)
        try:
            resp = await self.stub.ModelInfer(request, timeout=self.endpoint.timeout)
        except grpc.aio.AioRpcError as exc:
            raise RemoteError(f"node {self.name!r}: {self.endpoint.url} answered "
                              f"{exc.code().name}: {exc.details()}") from exc
        decoded: dict[str, Any] = {}
        try:
            for i, out in enumerate(resp.outputs):
                dtype = v2.DATATYPES.get(out.datatype)
                if dtype is None or i >= len(resp.raw_output_contents):
                    raise InvalidInput(f"output {out.name!r} has datatype {out.datatype!r} "
                                       "or no raw contents")
                shape = [int(d) for d in out.shape]
                decoded[out.name] = v2.from_binary(
                    f"output {out.name!r}", memoryview(resp.raw_output_contents[i]),
                    out.datatype, dtype, shape, int(np.prod(shape)))
        except InvalidInput as exc:
            raise RemoteError(f"node {self.name!r}: bad gRPC response: {exc}") from exc
        if len(decoded) == 1:
            ((name, arr),) = decoded.items()
            self.output_name = name
            return arr, []
        return decoded, []

    async def _post(self, path: str, body: bytes) -> Any:
        url = f"{self.endpoint.url}{path}"
        try:
            resp = await self._client().post(path, content=body,
                                             headers={"content-type": "application/json"})
        except httpx.HTTPError as exc:
            raise RemoteError(f"node {self.name!r}: {url} failed: {type(exc).__name__}: "
                              f"{exc}") from exc
        if resp.status_code >= 400:
            raise RemoteError(f"node {self.name!r}: {url} answered {resp.status_code}: "
                              f"{resp.text[:300]}")
        try:
            return resp.json()
        except ValueError as exc:
            raise RemoteError(f"node {self.name!r}: {url} answered non-JSON") from exc

    async def _v2(self, X: Any) -> tuple[Any, list[str]]:
        arrays = X if isinstance(X, dict) else {"input-0": v2.as_array(X, self.name)}
        inputs = [v2.encode_tensor(name, np.asarray(arr), binary=False)[0]
                  for name, arr in arrays.items()]
        model = self.endpoint.model_name or self.name
        body = await self._post(f"/v2/models/{model}/infer",
                                json.dumps({"inputs": inputs}).encode())
        outputs = body.get("outputs") if isinstance(body, dict) else None
        if not isinstance(outputs, list) or not outputs:
            raise RemoteError(f"node {self.name!r}: V2 response has no outputs")
        try:
            decoded = {name: arr for name, arr, _ in (
                v2.decode_tensor(o, f"outputs[{i}]") for i, o in enumerate(outputs))}
        except InvalidInput as exc:
            raise RemoteError(f"node {self.name!r}: bad V2 response: {exc}") from exc
        if len(decoded) == 1:
            ((name, arr),) = decoded.items()
            self.output_name = name
            return arr, []
        return decoded, []

    async def _seldon(self, X: Any, names: list[str], meta: dict[str, Any]
                      ) -> tuple[Any, list[str]]:
        form = "ndarray" if isinstance(X, np.ndarray | list) else "jsonData"
        pred = Prediction(data=X, names=names, output_name="", puid=str(meta.get("puid", "")),
                          predictor="")
        msg = seldon.encode_prediction(pred, form)
        msg["meta"] = {"puid": pred.puid} if pred.puid else {}
        body = await self._post("/api/v1.0/predictions", json.dumps(msg).encode())
        try:
            payload, _ = seldon.decode_message(body, "remote response")
        except InvalidInput as exc:
            raise RemoteError(f"node {self.name!r}: bad Seldon response: {exc}") from exc
        return payload.data, payload.names
