"""InferenceGraph -> Seldon Core v1 `SeldonDeployment` (machinelearning.seldon.io/v1).

Spec: https://docs.seldon.io/projects/seldon-core/en/v1.17.1/reference/seldon-deployment.html
(schema in shared/schemas/seldon-core). Predictors, traffic and shadows map one to one.
Nodes map to Seldon's prepackaged servers (SKLEARN_SERVER, XGBOOST_SERVER), its built-in
RANDOM_ABTEST and AVERAGE_COMBINER, REMOTE endpoints, or, for PYTHON_CLASS models, a
container running `flowyard serve` (which answers Seldon's /api/v1.0/predictions).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from flowyard.kube.context import Manifest, RenderContext
from flowyard.kube.graph_config import (
    PORT,
    check_class,
    graph_configmap,
    graph_volume,
    model_uri,
    serve_container,
)
from flowyard.kube.names import dns_label
from flowyard.resources.inference_graph import Implementation, InferenceGraph, Node, NodeType

API_VERSION = "machinelearning.seldon.io/v1"
PREPACKAGED = {Implementation.SKLEARN_SERVER, Implementation.XGBOOST_SERVER}
BUILT_IN = {Implementation.RANDOM_ABTEST, Implementation.AVERAGE_COMBINER}


def build_seldon_deployment(graph: InferenceGraph, ctx: RenderContext) -> list[Manifest]:
    objects: list[Manifest] = []
    predictors: list[dict[str, Any]] = []
    for i, pred in enumerate(graph.spec.predictors):
        containers: list[dict[str, Any]] = []
        volumes: list[dict[str, Any]] = []
        root = _node(graph, pred.graph, f"spec.predictors[{i}].graph", ctx, containers,
                     volumes, objects, pred.name)
        out: dict[str, Any] = {"name": dns_label(pred.name), "replicas": 1, "graph": root}
        if pred.shadow:
            out["shadow"] = True
        else:
            out["traffic"] = graph.spec.traffic_of(pred)
        if pred.labels:
            out["labels"] = dict(pred.labels)
        if containers:
            out["componentSpecs"] = [{"spec": {"containers": containers, "volumes": volumes}}]
        predictors.append(out)
    meta = ctx.meta(graph.name, graph.name, "InferenceGraph")
    dep = {"apiVersion": API_VERSION, "kind": "SeldonDeployment", "metadata": meta,
           "spec": {"name": graph.name, "protocol": "seldon", "predictors": predictors}}
    return [dep, *objects]


def _node(graph: InferenceGraph, node: Node, where: str, ctx: RenderContext,
          containers: list[dict[str, Any]], volumes: list[dict[str, Any]],
          objects: list[Manifest], predictor: str) -> dict[str, Any]:
    resource = f"InferenceGraph {graph.name!r}"
    impl, ntype = node.impl, node.node_type
    name = dns_label(node.name)
    out: dict[str, Any] = {"name": name, "type": ntype.value}
    if impl in PREPACKAGED:
        out["implementation"] = impl.value
        out["modelUri"] = model_uri(node, ctx, resource, where)
    elif impl in BUILT_IN:
        out["implementation"] = impl.value
    elif impl is Implementation.REMOTE:
        assert node.endpoint is not None
        url = urlparse(node.endpoint.url)
        if node.endpoint.protocol is None or node.endpoint.protocol.value != "seldon":
            raise ctx.unsupported(f"a REMOTE node speaking {node.endpoint.protocol}", resource,
                                  f"{where}.endpoint.protocol",
                                  hint="Seldon calls remote nodes with its own protocol; "
                                       "set protocol: seldon")
        out["endpoint"] = {"service_host": url.hostname or "",
                           "service_port": url.port or (443 if url.scheme == "https" else 80),
                           "type": "REST"}
    elif impl is Implementation.PYTHON_CLASS and ntype is NodeType.MODEL:
        check_class(node, ctx, resource, where)
        cm_name = dns_label(f"{graph.name}-{predictor}-{node.name}")
        objects.append(graph_configmap(cm_name, graph.name,
                                       node.model_copy(update={"children": []}), ctx))
        containers.append(serve_container(name, ctx))
        # Seldon's executor calls a container node on 9000 unless told otherwise.
        out["endpoint"] = {"type": "REST", "httpPort": PORT}
        volumes.append({**graph_volume(cm_name), "name": f"graph-{len(volumes)}"})
        containers[-1]["volumeMounts"][0]["name"] = volumes[-1]["name"]
    else:
        what = f"a {impl.value} {ntype.value.lower()}"
        raise ctx.unsupported(what, resource, where,
                              hint="on Seldon, flowyard-served nodes are PYTHON_CLASS models; "
                                   "routers are RANDOM_ABTEST, combiners AVERAGE_COMBINER")
    params = [{"name": p.name, "value": str(p.value) if not isinstance(p.value, str)
               else p.value, "type": p.type.value} for p in node.parameters]
    if params and impl is not Implementation.PYTHON_CLASS:
        out["parameters"] = params
    if node.children:
        out["children"] = [
            _node(graph, child, f"{where}.children[{i}]", ctx, containers, volumes, objects,
                  predictor)
            for i, child in enumerate(node.children)]
    return out
