"""InferenceGraph -> Seldon Core v1 `SeldonDeployment` (machinelearning.seldon.io/v1).

Spec: https://docs.seldon.io/projects/seldon-core/en/v1.17.1/reference/seldon-deployment.html
(schema in shared/schemas/seldon-core). Predictors, traffic and shadows map one to one.
Nodes map to Seldon's prepackaged servers (SKLEARN_SERVER, XGBOOST_SERVER), its built-in
RANDOM_ABTEST and AVERAGE_COMBINER, REMOTE endpoints, or, for PYTHON_CLASS models, a
container running `flowyard serve` (which answers the executor's /predict and
/send-feedback). A predictor with anything else (a bandit router, a model in a data repo,
...) becomes one MODEL node backed by a Flowyard container serving its whole graph
(served_predictor.py); Seldon v1 has no built-in bandit, and its prepackaged servers cannot
read the data store.
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
from flowyard.kube.served_predictor import build_served_predictor, is_data_ref
from flowyard.resources.inference_graph import Implementation, InferenceGraph, Node, NodeType

API_VERSION = "machinelearning.seldon.io/v1"
PREPACKAGED = {Implementation.SKLEARN_SERVER, Implementation.XGBOOST_SERVER}
BUILT_IN = {Implementation.RANDOM_ABTEST, Implementation.AVERAGE_COMBINER}
SERVED = "flowyard"
"""The node and container name of a Flowyard-served predictor."""


def build_seldon_deployment(graph: InferenceGraph, ctx: RenderContext) -> list[Manifest]:
    objects: list[Manifest] = []
    predictors: list[dict[str, Any]] = []
    for i, pred in enumerate(graph.spec.predictors):
        containers: list[dict[str, Any]] = []
        volumes: list[dict[str, Any]] = []
        reasons = seldon_gaps(pred.graph, f"spec.predictors[{i}].graph")
        if reasons:
            config, box, volume = build_served_predictor(graph, i, SERVED, ctx, "Seldon",
                                                         reasons)
            objects.append(config)
            containers.append(box)
            volumes.append(volume)
            # Seldon's executor calls a container node on 9000 unless told otherwise.
            root = {"name": SERVED, "type": NodeType.MODEL.value,
                    "endpoint": {"type": "REST", "httpPort": PORT}}
        else:
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


def seldon_gaps(root: Node, where: str) -> list[str]:
    """What in this predictor's graph Seldon cannot run itself, each with its place; empty
    when every node maps to a Seldon node."""
    gaps: list[str] = []
    for path, node in root.walk(where):
        impl, ntype = node.impl, node.node_type
        if is_data_ref(node.model_uri):
            gaps.append(f"data-store model URI at {path}.modelUri")
        elif impl in PREPACKAGED or impl in BUILT_IN:
            continue
        elif impl is Implementation.REMOTE:
            protocol = node.endpoint.protocol if node.endpoint is not None else None
            if protocol is None or protocol.value != "seldon":
                gaps.append(f"REMOTE node speaking {protocol.value if protocol else 'v2'} "
                            f"at {path}")
        elif impl is Implementation.PYTHON_CLASS and ntype is NodeType.MODEL:
            continue
        else:
            gaps.append(f"{impl.value} {ntype.value.lower()} at {path}")
    return gaps


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
        url = urlparse(node.endpoint.url)  # seldon_gaps let only protocol: seldon through
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
    else:  # seldon_gaps sends a predictor with any other node to a Flowyard container
        raise AssertionError(f"{resource} {where}: {impl.value} is not a Seldon node")
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
