"""The graph engine: runs predictors' node trees in-process and splits traffic between them.

One node runs its own step (MODEL: predict, TRANSFORMER: transform_input), then its
children (ROUTER: one child it picks, COMBINER: all children then aggregate, otherwise its
single child), then OUTPUT_TRANSFORMER: transform_output. Nodes call each other as Python
calls; only REMOTE nodes touch the network.

Traffic: a header names a predictor, or one is drawn by `traffic` weight; shadow predictors
get a copy of each request in the background and their answers and failures are dropped.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import random
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from flowyard.errors import FlowyardError, InvalidInput, NotFound
from flowyard.resources.inference_graph import InferenceGraph, Node, NodeType, Predictor
from flowyard.serving.batching import Batcher
from flowyard.serving.errors import ModelError, ModelNotReady
from flowyard.serving.metrics import ServingMetrics
from flowyard.serving.runtimes import Runtime, RuntimeContext, build_runtime
from flowyard.serving.state import MemoryStateStore, StateStore
from flowyard.serving.types import Data, Feedback, Payload, Prediction
from flowyard.settings import Settings

log = logging.getLogger(__name__)
PUID_MEMORY = 10_000


def new_puid() -> str:
    """A request id shaped like uuid4().hex, without uuid4's getrandom syscall per request
    (the module generator is reseeded after fork, so workers do not repeat ids)."""
    return f"{random.getrandbits(128):032x}"


@dataclass
class NodeExec:
    """A node bound to its runtime, its children and its metric series."""

    node: Node
    runtime: Runtime
    children: list[NodeExec]
    predictor: str
    ntype: NodeType
    status: str = "loading"
    reason: str = ""
    metric_ok: Any = None
    metric_err: Any = None
    metric_latency: Any = None
    batcher: Batcher | None = None

    @property
    def key(self) -> str:
        return f"{self.predictor}/{self.node.name}"

    def walk(self) -> list[NodeExec]:
        out = [self]
        for child in self.children:
            out.extend(child.walk())
        return out


@dataclass
class PredictorExec:
    spec: Predictor
    root: NodeExec
    traffic: int
    nodes: dict[str, NodeExec] = field(default_factory=dict)
    metric_ok: Any = None
    metric_err: Any = None

    @property
    def name(self) -> str:
        return self.spec.name

    def not_ready(self, start: NodeExec | None = None) -> str | None:
        """The first reason this predictor (or the subtree at `start`) cannot serve."""
        for ne in (start or self.root).walk():
            if ne.status != "ready":
                return f"node {ne.node.name!r} is {ne.status}" + (
                    f": {ne.reason}" if ne.reason else "")
        return None


@dataclass
class Target:
    """What a V2 model name addresses: the whole graph, one predictor, or one node."""

    name: str
    predictor: PredictorExec | None = None
    node: NodeExec | None = None


@dataclass
class _Trace:
    puid: str
    predictor: str
    routing: dict[str, int] = field(default_factory=dict)
    request_path: dict[str, str] = field(default_factory=dict)
    tags: dict[str, Any] = field(default_factory=dict)
    metrics: list[dict[str, Any]] = field(default_factory=list)


class GraphEngine:
    """Serves one InferenceGraph in this process."""

    def __init__(self, graph: InferenceGraph, *, base_dir: Path | None = None,
                 cache_dir: Path | None = None, state_store: StateStore | None = None,
                 metrics: ServingMetrics | None = None, http_transport: Any = None,
                 seed: int | None = None) -> None:
        self.graph = graph
        self.name = graph.metadata.name
        self.base_dir = base_dir or Path.cwd()
        cache = cache_dir or Settings().home.expanduser() / "serving" / "cache"
        self.state_store: StateStore = state_store or MemoryStateStore()
        self.metrics = metrics or ServingMetrics()
        self.rng = random.Random(seed)
        self.predictors: dict[str, PredictorExec] = {}
        for pred in graph.spec.predictors:
            ctx = RuntimeContext(graph=self.name, predictor=pred.name, base_dir=self.base_dir,
                                 cache_dir=cache, http_transport=http_transport)
            root = self._build(pred.graph, pred.name, ctx)
            pe = PredictorExec(pred, root, graph.spec.traffic_of(pred))
            pe.nodes = {ne.node.name: ne for ne in root.walk()}
            series = self.metrics.predictor_requests
            pe.metric_ok = series.labels(self.name, pred.name, str(pred.shadow), "ok")
            pe.metric_err = series.labels(self.name, pred.name, str(pred.shadow), "error")
            self.predictors[pred.name] = pe
        self.live = [p for p in self.predictors.values() if not p.spec.shadow]
        self.shadows = [p for p in self.predictors.values() if p.spec.shadow]
        self.targets = self._targets()
        self._recent: OrderedDict[str, tuple[str, dict[str, int]]] = OrderedDict()
        self._background: set[asyncio.Task[Any]] = set()

    def _build(self, node: Node, predictor: str, ctx: RuntimeContext) -> NodeExec:
        children = [self._build(c, predictor, ctx) for c in node.children]
        ne = NodeExec(node, build_runtime(node, ctx), children, predictor, node.node_type)
        labels = (self.name, predictor, node.name)
        ne.metric_ok = self.metrics.node_requests.labels(*labels, "ok")
        ne.metric_err = self.metrics.node_requests.labels(*labels, "error")
        ne.metric_latency = self.metrics.node_latency.labels(*labels)
        if node.batching is not None and ne.ntype is NodeType.MODEL and not ne.runtime.remote:
            ne.batcher = Batcher(ne.runtime, node.batching.max_batch_size,
                                 node.batching.max_latency_ms / 1000.0)
        return ne

    def _targets(self) -> dict[str, Target]:
        """Model names for V2: graph > predictor > node (a node name only when unique)."""
        found: dict[str, Target] = {}
        counts: dict[str, int] = {}
        for pe in self.predictors.values():
            for name in pe.nodes:
                counts[name] = counts.get(name, 0) + 1
        for pe in self.predictors.values():
            for name, ne in pe.nodes.items():
                if counts[name] == 1:
                    found[name] = Target(name, pe, ne)
        for pe in self.predictors.values():
            found[pe.name] = Target(pe.name, pe, pe.root)
        found[self.name] = Target(self.name)
        return found

    # -- life cycle
    def load(self) -> None:
        """Load every node; a failure marks that node failed and the others still load."""
        saved: dict[str, dict[str, Any]] = {}
        try:
            saved = self.state_store.load(self.name)
        except FlowyardError as exc:
            log.warning("router state for graph %s not restored: %s", self.name, exc)
        for pe in self.predictors.values():
            for ne in pe.root.walk():
                try:
                    ne.runtime.load()
                    if ne.key in saved:
                        ne.runtime.set_state(saved[ne.key])
                    ne.status, ne.reason = "ready", ""
                except Exception as exc:  # any load failure becomes the node's reason
                    ne.status, ne.reason = "failed", f"{type(exc).__name__}: {exc}"
                    log.error("graph %s: node %s failed to load: %s", self.name, ne.key,
                              ne.reason)

    async def aclose(self) -> None:
        for task in list(self._background):
            task.cancel()
        for pe in self.predictors.values():
            for ne in pe.root.walk():
                if ne.batcher is not None:
                    ne.batcher.close()
                await ne.runtime.aclose()

    def target(self, name: str) -> Target:
        found = self.targets.get(name)
        if found is None:
            raise NotFound(f"model {name!r} is not served here",
                           hint=f"models: {', '.join(sorted(self.targets))}")
        return found

    def not_ready(self, target: Target | None = None) -> str | None:
        if target is not None and target.predictor is not None:
            return target.predictor.not_ready(target.node)
        for pe in self.live:
            reason = pe.not_ready()
            if reason:
                return f"predictor {pe.name!r}: {reason}"
        return None

    def health(self, target: Target | None = None) -> str | None:
        """Not-ready reason including user `health_status()` checks, or None when ready."""
        reason = self.not_ready(target)
        if reason:
            return reason
        preds = [target.predictor] if target and target.predictor else self.live
        for pe in preds:
            for ne in pe.root.walk():
                try:
                    ne.runtime.health_status()
                except Exception as exc:
                    return f"node {ne.node.name!r} health_status() failed: {exc}"
        return None

    # -- predictions
    def choose(self, header: str | None = None) -> PredictorExec:
        if header:
            pe = self.predictors.get(header)
            if pe is None:
                raise NotFound(f"predictor {header!r} (named by the request header) does not "
                               f"exist in graph {self.name!r}",
                               hint=f"predictors: {', '.join(self.predictors)}")
            return pe
        if len(self.live) == 1:
            return self.live[0]
        draw = self.rng.random() * 100
        for pe in self.live:
            draw -= pe.traffic
            if draw < 0:
                return pe
        return self.live[-1]

    async def predict(self, payload: Payload, *, target: str | None = None,
                      predictor: str | None = None) -> Prediction:
        """Run a request through the graph (or the predictor/node `target` names)."""
        tgt = self.target(target) if target else None
        if tgt is not None and tgt.predictor is not None:
            pe, start = tgt.predictor, tgt.node or tgt.predictor.root
        else:
            pe = self.choose(predictor)
            start = pe.root
            if self.shadows and not pe.spec.shadow:
                self._mirror(payload)
        return await self._predict_on(pe, start, payload)

    async def _predict_on(self, pe: PredictorExec, start: NodeExec, payload: Payload
                          ) -> Prediction:
        reason = pe.not_ready(start)
        if reason:
            raise ModelNotReady(f"graph {self.name!r}, predictor {pe.name!r} is not ready: "
                                f"{reason}")
        puid = payload.meta.get("puid")
        trace = _Trace(puid if isinstance(puid, str) and puid else new_puid(), pe.name)
        tags = payload.meta.get("tags")
        if isinstance(tags, dict):
            trace.tags.update(tags)
        meta = payload.meta if payload.inputs == [] else {**payload.meta,
                                                          "inputs": payload.inputs}
        try:
            data, names, out_name = await self._run(start, payload.data, payload.names, meta,
                                                    trace)
        except Exception:
            pe.metric_err.inc()
            raise
        pe.metric_ok.inc()
        self._remember(trace.puid, pe.name, trace.routing)
        return Prediction(data, names, out_name, trace.puid, pe.name, trace.routing,
                          trace.request_path, trace.tags, trace.metrics)

    async def _run(self, ne: NodeExec, X: Data, names: list[str], meta: dict[str, Any],
                   trace: _Trace) -> tuple[Data, list[str], str]:
        start = time.perf_counter()
        rt, ntype = ne.runtime, ne.ntype
        trace.request_path[ne.node.name] = rt.describe()
        out_name = rt.output_name
        try:
            if rt.remote and ntype in (NodeType.MODEL, NodeType.TRANSFORMER):
                X, names = await rt.call_remote(X, names, meta)
                out_name = rt.output_name
            elif ntype is NodeType.MODEL:
                X = await ne.batcher.submit(X, names, meta) if ne.batcher else rt.predict(
                    X, names, meta)
                names = rt.output_names(names)
            elif ntype is NodeType.TRANSFORMER:
                X = rt.transform_input(X, names, meta)
                names = rt.output_names(names)
            if ne.children:
                X, names, out_name = await self._children(ne, X, names, meta, trace, out_name)
            if ntype is NodeType.OUTPUT_TRANSFORMER:
                if rt.remote:
                    X, names = await rt.call_remote(X, names, meta)
                else:
                    X = rt.transform_output(X, names, meta)
                out_name = rt.output_name if rt.output_name != "output-0" else out_name
            tags = rt.tags()
            if tags:
                trace.tags.update(tags)
            custom = rt.metrics()
            if custom:
                trace.metrics.extend(custom)
                self.metrics.record_custom(self.name, ne.predictor, ne.node.name, custom)
        except FlowyardError:
            ne.metric_err.inc()
            raise
        except Exception as exc:  # user code outside the wrapped calls (tags, metrics)
            ne.metric_err.inc()
            raise ModelError(f"node {ne.node.name!r}: {type(exc).__name__}: {exc}") from exc
        finally:
            ne.metric_latency.observe(time.perf_counter() - start)
        ne.metric_ok.inc()
        return X, names, out_name

    async def _children(self, ne: NodeExec, X: Data, names: list[str], meta: dict[str, Any],
                        trace: _Trace, out_name: str) -> tuple[Data, list[str], str]:
        rt, n = ne.runtime, len(ne.children)
        if ne.ntype is NodeType.ROUTER:
            choice = rt.route(X, names)
            if isinstance(choice, np.integer):
                choice = int(choice)
            if not isinstance(choice, int) or isinstance(choice, bool) or not 0 <= choice < n:
                raise ModelError(f"router {ne.node.name!r} returned child index {choice!r}; "
                                 f"it has {n} children (0..{n - 1})")
            trace.routing[ne.node.name] = choice
            return await self._run(ne.children[choice], X, names, meta, trace)
        if ne.ntype is NodeType.COMBINER:
            if any(c.runtime.remote for c in ne.children):
                results = await asyncio.gather(*(self._run(c, X, names, meta, trace)
                                                 for c in ne.children))
            else:
                results = [await self._run(c, X, names, meta, trace) for c in ne.children]
            trace.routing[ne.node.name] = -1
            combined = rt.aggregate([r[0] for r in results], [r[1] for r in results])
            return combined, rt.output_names(results[0][1]), (
                rt.output_name if rt.output_name != "output-0" else results[0][2])
        return await self._run(ne.children[0], X, names, meta, trace)

    def _mirror(self, payload: Payload) -> None:
        for pe in self.shadows:
            copied = Payload(copy.deepcopy(payload.data), list(payload.names),
                             {k: v for k, v in payload.meta.items() if k != "puid"},
                             list(payload.inputs))
            task = asyncio.get_running_loop().create_task(self._shadow(pe, copied))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _shadow(self, pe: PredictorExec, payload: Payload) -> None:
        try:
            await self._predict_on(pe, pe.root, payload)
        except Exception as exc:  # a shadow never affects the caller; count and log it
            log.warning("graph %s: shadow predictor %s failed: %s", self.name, pe.name, exc)

    def _remember(self, puid: str, predictor: str, routing: dict[str, int]) -> None:
        self._recent[puid] = (predictor, routing)
        if len(self._recent) > PUID_MEMORY:
            self._recent.popitem(last=False)

    async def idle(self) -> None:
        """Wait for background (shadow) work; tests and graceful shutdown use it."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    # -- feedback
    def feedback(self, fb: Feedback) -> Prediction:
        """Send a reward down the branch that served the request, routers first."""
        routing, pred_name = fb.routing, fb.predictor
        if fb.puid and fb.puid in self._recent and (routing is None or pred_name is None):
            remembered = self._recent[fb.puid]
            pred_name = pred_name or remembered[0]
            routing = routing if routing is not None else remembered[1]
        routing = routing or {}
        pe = self._feedback_predictor(pred_name, routing)
        self._feedback_node(pe, pe.root, fb, routing)
        return Prediction(None, [], "", fb.puid or new_puid(), pe.name, routing)

    def _feedback_predictor(self, name: str | None, routing: dict[str, int]) -> PredictorExec:
        if name:
            if name not in self.predictors:
                raise NotFound(f"feedback names predictor {name!r}, which graph {self.name!r} "
                               f"does not have", hint=f"predictors: {', '.join(self.predictors)}")
            return self.predictors[name]
        if len(self.live) == 1:
            return self.live[0]
        matches = [pe for pe in self.live if routing and set(routing) <= set(pe.nodes)]
        if len(matches) == 1:
            return matches[0]
        raise InvalidInput("feedback does not say which predictor served the request",
                           hint="send the prediction's response.meta (it carries predictor "
                           "and routing) or its puid")

    def _feedback_node(self, pe: PredictorExec, ne: NodeExec, fb: Feedback,
                       routing: dict[str, int]) -> None:
        chosen = routing.get(ne.node.name)
        if ne.ntype is NodeType.ROUTER:
            if chosen is None:
                raise InvalidInput(f"feedback routing has no entry for router "
                                   f"{ne.node.name!r}", hint="send the response.meta.routing "
                                   "the prediction returned")
            if not 0 <= chosen < len(ne.children):
                raise InvalidInput(f"feedback routing sends router {ne.node.name!r} to child "
                                   f"{chosen}; it has {len(ne.children)} children")
        if ne.status == "ready":
            ne.runtime.send_feedback(fb.request.data, fb.request.names, fb.reward, fb.truth,
                                     chosen if ne.ntype is NodeType.ROUTER else None)
            labels = (self.name, pe.name, ne.node.name)
            self.metrics.feedback.labels(*labels).inc()
            self.metrics.reward.labels(*labels).inc(max(fb.reward, 0.0))
            state = ne.runtime.get_state()
            if state is not None:
                self.state_store.save(self.name, ne.key, state)
        if ne.ntype is NodeType.ROUTER and chosen is not None:
            self._feedback_node(pe, ne.children[chosen], fb, routing)
        else:
            for child in ne.children:
                self._feedback_node(pe, child, fb, routing)
