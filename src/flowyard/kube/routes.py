"""HTTP routes to served graphs and the platform API: Emissary `Mapping` or Gateway API
`HTTPRoute`, chosen by the environment's `routes` setting.

Specs: https://www.getambassador.io/docs/emissary/latest/topics/using/intro-mappings
(getambassador.io/v3alpha1 Mapping) and https://gateway-api.sigs.k8s.io/reference/spec/
(gateway.networking.k8s.io/v1 HTTPRoute). Graph and API prefixes are rewritten to `/`, so
the backend sees the paths it serves locally; a notebook keeps its prefix, which Jupyter
serves under (its base_url, NB_PREFIX in Kubeflow's images).
"""

from __future__ import annotations

from typing import Any

from flowyard.kube.context import Manifest, RenderContext
from flowyard.kube.names import dns_label
from flowyard.kube.project import Routes, Serving
from flowyard.resources.inference_graph import InferenceGraph

MAPPING_API = "getambassador.io/v3alpha1"
HTTPROUTE_API = "gateway.networking.k8s.io/v1"
GATEWAY = "flowyard-gateway"
"""The Gateway an HTTPRoute attaches to, in the environment's namespace."""
SELDON_PORT = 8000
KSERVE_PORT = 80


def graph_prefix(namespace: str, graph: str) -> str:
    return f"/serving/{namespace}/{graph}/"


def graph_backend(graph: InferenceGraph, ctx: RenderContext) -> tuple[str, int]:
    """The Service in front of a rendered graph and its port."""
    if ctx.env.serving is Serving.SELDON:
        # Seldon Core names the service of a deployment `<deployment>-<predictor>`.
        live = [p for p in graph.spec.predictors if not p.shadow] or graph.spec.predictors
        return f"{graph.name}-{dns_label(live[0].name)}", SELDON_PORT
    # KServe creates a Service named after the InferenceService.
    return graph.name, KSERVE_PORT


def build_route(name: str, resource: str, kind: str, prefix: str, service: str, port: int,
                ctx: RenderContext, *, rewrite: str = "/", websocket: bool = False
                ) -> Manifest:
    """A Mapping or an HTTPRoute sending `prefix` to `service:port`, rewritten to `rewrite`.

    `websocket` lets Emissary upgrade connections (Gateway API implementations pass
    upgrades through without being asked)."""
    meta = ctx.meta(name, resource, kind)
    if ctx.env.routes is Routes.EMISSARY:
        spec: dict[str, Any] = {"hostname": "*", "prefix": prefix, "rewrite": rewrite,
                                "service": f"{service}.{ctx.namespace}:{port}"}
        if websocket:
            spec["allow_upgrade"] = ["websocket"]
        return {"apiVersion": MAPPING_API, "kind": "Mapping", "metadata": meta, "spec": spec}
    rule: dict[str, Any] = {"matches": [{"path": {"type": "PathPrefix", "value": prefix}}]}
    if rewrite != prefix:
        rule["filters"] = [{"type": "URLRewrite", "urlRewrite": {"path": {
            "type": "ReplacePrefixMatch", "replacePrefixMatch": rewrite}}}]
    rule["backendRefs"] = [{"name": service, "port": port}]
    return {"apiVersion": HTTPROUTE_API, "kind": "HTTPRoute", "metadata": meta,
            "spec": {"parentRefs": [{"name": GATEWAY}], "rules": [rule]}}


def build_graph_route(graph: InferenceGraph, ctx: RenderContext) -> Manifest:
    service, port = graph_backend(graph, ctx)
    return build_route(f"{graph.name}-route", graph.name, "InferenceGraph",
                       graph_prefix(ctx.namespace, graph.name), service, port, ctx)
