"""InferenceGraph -> KServe `InferenceService` (serving.kserve.io/v1beta1).

Spec: https://kserve.github.io/website/latest/reference/api/ (schema in
shared/schemas/kserve). KServe has one predictor and an optional transformer per service,
so the graphs it can express are: a MODEL node, or a TRANSFORMER with one MODEL child.
Two live predictors become a canary: the service describes the smaller one with
`canaryTrafficPercent`, and KServe keeps the previous revision (the larger one) for the
rest, so the larger one must be deployed first.
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
    if root.node_type is NodeType.TRANSFORMER:
        if len(root.children) != 1 or root.children[0].node_type is not NodeType.MODEL \
                or root.children[0].children:
            raise ctx.unsupported("a TRANSFORMER not followed by exactly one MODEL", resource,
                                  where, hint="KServe runs transformer -> predictor only")
        if root.impl is not Implementation.PYTHON_CLASS:
            raise ctx.unsupported(f"a {root.impl.value} transformer", resource, where)
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
    if root.node_type is not NodeType.MODEL or root.children:
        raise ctx.unsupported(f"a {root.node_type.value} node", resource, where,
                              hint="KServe serves a MODEL, optionally behind one TRANSFORMER; "
                                   "use serving: seldon for routers and combiners")
    return {"predictor": _predictor(graph, root, where, ctx, objects)}


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
    raise ctx.unsupported(f"a {impl.value} model", resource, where,
                          hint="KServe serves sklearn, xgboost, lightgbm, onnx or a "
                               "PYTHON_CLASS")
