"""InferenceGraph -> KServe `InferenceService` (serving.kserve.io/v1beta1).

Spec: https://kserve.github.io/website/latest/reference/api/ (schema in
shared/schemas/kserve). KServe has one predictor and an optional transformer per service,
so the graphs it can express are: a MODEL node, or a TRANSFORMER with one MODEL child.
Two live predictors become a canary: the service describes the smaller one with
`canaryTrafficPercent`, and KServe keeps the previous revision (the larger one) for the
rest, so the larger one must be deployed first. Any other graph (routers, combiners, models
in a data repo, ...) becomes a custom predictor container of the Flowyard image serving the
predictor's whole graph (served_predictor.py).
"""

from __future__ import annotations

from typing import Any

from flowyard.kube.context import Manifest, RenderContext
from flowyard.kube.graph_config import (
    PORT,
    check_class,
    graph_configmap,
    graph_volume,
    model_uri,
    remote,
    serve_container,
)
from flowyard.kube.served_predictor import build_served_predictor, is_data_ref
from flowyard.resources.inference_graph import (
    Implementation,
    InferenceGraph,
    Node,
    NodeType,
    Predictor,
)

API_VERSION = "serving.kserve.io/v1beta1"
FORMATS = {
    Implementation.SKLEARN_SERVER: "sklearn",
    Implementation.XGBOOST_SERVER: "xgboost",
    Implementation.LIGHTGBM_SERVER: "lightgbm",
    Implementation.ONNX_SERVER: "onnx",
}


def build_inference_service(graph: InferenceGraph, ctx: RenderContext) -> list[Manifest]:
    resource = f"InferenceGraph {graph.name!r}"
    spec = graph.spec
    for i, pred in enumerate(spec.predictors):
        if pred.shadow:
            raise ctx.unsupported("a shadow predictor", resource, f"spec.predictors[{i}]",
                                  hint="KServe has no traffic mirroring; use serving: seldon "
                                       "for this environment, or drop the shadow")
    live = [p for p in spec.predictors if not p.shadow]
    if len(live) > 2:
        raise ctx.unsupported(f"{len(live)} live predictors", resource, "spec.predictors",
                              hint="KServe splits traffic between two revisions (canary); "
                                   "use serving: seldon for more")
    ordered = sorted(live, key=lambda p: spec.traffic_of(p), reverse=True)
    chosen = ordered[-1]
    index = spec.predictors.index(chosen)
    objects: list[Manifest] = []
    isvc_spec = _components(graph, chosen, index, ctx, objects)
    meta = ctx.meta(graph.name, graph.name, "InferenceGraph")
    if len(live) == 2:
        isvc_spec["predictor"]["canaryTrafficPercent"] = spec.traffic_of(chosen)
        meta["annotations"] = {"flowyard.dev/stable-predictor": ordered[0].name,
                               "flowyard.dev/canary-predictor": chosen.name}
        ctx.warnings.append(
            f"{resource}: KServe canary: this service is predictor {chosen.name!r} at "
            f"{spec.traffic_of(chosen)}%; the previous revision ({ordered[0].name!r}) takes "
            "the rest, so deploy that one first")
    isvc = {"apiVersion": API_VERSION, "kind": "InferenceService", "metadata": meta,
            "spec": isvc_spec}
    return [isvc, *objects]


def _components(graph: InferenceGraph, pred: Predictor, index: int, ctx: RenderContext,
                objects: list[Manifest]) -> dict[str, Any]:
    resource = f"InferenceGraph {graph.name!r}"
    where = f"spec.predictors[{index}].graph"
    root = pred.graph
    reasons = kserve_gaps(root, where)
    if reasons:
        config, box, volume = build_served_predictor(graph, index, "kserve-container", ctx,
                                                     "KServe", reasons)
        objects.append(config)
        box["ports"] = [{"containerPort": PORT, "protocol": "TCP"}]  # Knative: one, unnamed
        return {"predictor": {"containers": [box], "volumes": [volume]}}
    if root.node_type is NodeType.TRANSFORMER:
        check_class(root, ctx, resource, where)
        model = root.children[0]
        predictor = _predictor(graph, model, f"{where}.children[0]", ctx, objects)
        # The transformer runs the class, then calls the predictor's V2 endpoint.
        url = f"http://{graph.name}-predictor.{ctx.namespace}"
        local = root.model_copy(update={"children": [remote(model.name, url, model.name)]})
        cm_name = f"{graph.name}-transformer-graph"
        objects.append(graph_configmap(cm_name, graph.name, local, ctx))
        transformer = {"containers": [serve_container("kserve-container", ctx)],
                       "volumes": [graph_volume(cm_name)]}
        return {"predictor": predictor, "transformer": transformer}
    return {"predictor": _predictor(graph, root, where, ctx, objects)}


def kserve_gaps(root: Node, where: str) -> list[str]:
    """What keeps this predictor's graph from being a KServe predictor (MODEL), optionally
    behind a PYTHON_CLASS transformer, each with its place; empty when nothing does."""
    model, model_where = root, where
    if root.node_type is NodeType.TRANSFORMER and root.impl is Implementation.PYTHON_CLASS \
            and len(root.children) == 1:
        model, model_where = root.children[0], f"{where}.children[0]"
    elif root.node_type is not NodeType.MODEL:
        return [f"{root.impl.value} {root.node_type.value.lower()} at {where}"]
    if model.node_type is not NodeType.MODEL or model.children:
        return [f"{model.impl.value} {model.node_type.value.lower()} at {model_where}"
                + (" with children" if model.children else "")]
    if is_data_ref(model.model_uri):
        return [f"data-store model URI at {model_where}.modelUri"]
    if model.impl not in FORMATS and model.impl is not Implementation.PYTHON_CLASS:
        return [f"{model.impl.value} model at {model_where}"]
    return []


def _predictor(graph: InferenceGraph, node: Node, where: str, ctx: RenderContext,
               objects: list[Manifest]) -> dict[str, Any]:
    resource = f"InferenceGraph {graph.name!r}"
    impl = node.impl
    if node.batching is not None:
        ctx.warnings.append(f"{resource} {where}: batching is left to KServe's own "
                            "batcher settings")
    if impl in FORMATS:
        return {"model": {"modelFormat": {"name": FORMATS[impl]},
                          "storageUri": model_uri(node, ctx, resource, where),
                          "protocolVersion": "v2"}}
    if impl is Implementation.PYTHON_CLASS:
        check_class(node, ctx, resource, where)
        cm_name = f"{graph.name}-predictor-graph"
        objects.append(graph_configmap(cm_name, graph.name, node, ctx))
        box = serve_container("kserve-container", ctx)
        box["ports"] = [{"containerPort": PORT, "protocol": "TCP"}]
        return {"containers": [box], "volumes": [graph_volume(cm_name)]}
    raise AssertionError(f"{resource} {where}: kserve_gaps lets no {impl.value} model through")
