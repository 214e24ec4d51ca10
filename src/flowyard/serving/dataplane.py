"""The transport-agnostic data plane: what every protocol adapter delegates to.

REST (and later gRPC) handlers only decode the wire format, call one method here and encode
the answer; model resolution, readiness, versions and V2 tensor mapping live here once.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import flowyard
from flowyard.errors import NotFound
from flowyard.serving.errors import ModelNotReady
from flowyard.serving.graph import GraphEngine, Target
from flowyard.serving.protocols import v2
from flowyard.serving.types import Feedback, Payload, Prediction

SERVER_NAME = "flowyard"
EXTENSIONS = ["binary_tensor_data", "seldon_v1", "model_repository_index"]


class DataPlane:
    def __init__(self, engine: GraphEngine) -> None:
        self.engine = engine
        self.loaded = False
        self.load_error: str | None = None

    # -- health
    def live(self) -> bool:
        return True

    def not_ready(self) -> str | None:
        """Why the server is not ready (still loading, a model failed), or None."""
        if not self.loaded:
            return self.load_error or "models are still loading"
        return self.engine.health()

    def server_metadata(self) -> dict[str, Any]:
        return {"name": SERVER_NAME, "version": flowyard.__version__, "extensions": EXTENSIONS}

    # -- models
    def _target(self, name: str, version: str | None) -> Target:
        target = self.engine.target(name)
        if version is not None and version not in self.versions(target):
            raise NotFound(f"model {name!r} has no version {version!r}",
                           hint=f"versions: {', '.join(self.versions(target))}")
        return target

    def check_model(self, name: str, version: str | None = None) -> None:
        """Raise NotFound unless `name` (and `version`) is served here."""
        self._target(name, version)

    def versions(self, target: Target) -> list[str]:
        node = target.node.node if target.node else None
        declared = node.params().get("version") if node else None
        return [str(declared)] if declared is not None else ["1"]

    def model_not_ready(self, name: str, version: str | None = None) -> str | None:
        target = self._target(name, version)
        if not self.loaded:
            return "models are still loading"
        return self.engine.health(target)

    def model_metadata(self, name: str, version: str | None = None) -> dict[str, Any]:
        target = self._target(name, version)
        pe = target.predictor or self.engine.live[0]
        start = target.node or pe.root
        inputs: list[Any] | None = None
        outputs: list[Any] = []
        platform = "flowyard-graph"
        for ne in start.walk():
            if ne.status != "ready":
                continue
            meta = ne.runtime.init_metadata()
            if inputs is None and meta.get("inputs"):
                inputs = list(meta["inputs"])
            if meta.get("outputs"):
                outputs = list(meta["outputs"])
            if ne is start and meta.get("platform"):
                platform = str(meta["platform"])
        out: dict[str, Any] = {"name": name, "versions": self.versions(target),
                               "platform": platform, "inputs": inputs or [],
                               "outputs": outputs}
        lineage = {ne.node.name: ne.runtime.lineage for ne in start.walk()
                   if ne.status == "ready" and ne.runtime.lineage}
        if lineage:  # MLServer's metadata has `parameters` too; clients ignore extra keys
            out["parameters"] = {"sources": lineage}
        if target.predictor is None:
            out["predictors"] = {pe.name: {"traffic": pe.traffic, "shadow": pe.spec.shadow}
                                 for pe in self.engine.predictors.values()}
        return out

    def repository_index(self) -> list[dict[str, Any]]:
        out = []
        for name, target in sorted(self.engine.targets.items()):
            reason = self.engine.not_ready(target) if self.loaded else "loading"
            entry: dict[str, Any] = {"name": name, "version": self.versions(target)[0],
                                     "state": "READY" if reason is None else "UNAVAILABLE"}
            if reason:
                entry["reason"] = reason
            out.append(entry)
        return out

    # -- inference
    def _check_loaded(self) -> None:
        if not self.loaded:
            raise ModelNotReady("models are still loading; retry when /v2/health/ready "
                                "answers 200")

    async def infer(self, name: str, version: str | None, request: v2.InferRequest, *,
                    predictor: str | None = None) -> tuple[dict[str, np.ndarray],
                                                           dict[str, Any]]:
        """V2 inference: input tensors -> output tensors and response parameters."""
        self._check_loaded()
        target = self._target(name, version)
        names = list(request.inputs)
        data: Any = request.inputs[names[0]] if len(names) == 1 else dict(request.inputs)
        meta: dict[str, Any] = dict(request.parameters)
        if request.id and "puid" not in meta:
            meta["puid"] = request.id
        payload = Payload(data, meta=meta, inputs=names)
        pred = await self.engine.predict(payload, target=None if target.predictor is None
                                         else name, predictor=predictor)
        return self.v2_outputs(pred), self.v2_parameters(pred)

    def v2_outputs(self, pred: Prediction) -> dict[str, np.ndarray]:
        if isinstance(pred.data, dict):
            return {str(k): v2.as_array(v, f"output {k!r}") for k, v in pred.data.items()}
        return {pred.output_name: v2.as_array(pred.data, f"predictor {pred.predictor!r}")}

    def v2_parameters(self, pred: Prediction) -> dict[str, Any]:
        params: dict[str, Any] = {"puid": pred.puid, "predictor": pred.predictor,
                                  "routing": pred.routing, "requestPath": pred.request_path}
        if pred.tags:
            params["tags"] = pred.tags
        return params

    async def predict(self, payload: Payload, *, predictor: str | None = None) -> Prediction:
        """Seldon-style prediction through the whole graph."""
        self._check_loaded()
        return await self.engine.predict(payload, predictor=predictor)

    def feedback(self, feedback: Feedback) -> Prediction:
        self._check_loaded()
        return self.engine.feedback(feedback)
