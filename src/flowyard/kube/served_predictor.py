"""Flowyard-served predictors: a predictor whose graph the target engine cannot express runs
as one container of the Flowyard image, serving the predictor's whole graph as `flowyard
serve` does locally (V2 REST, and Seldon's protocol on port 8080).

What sends a predictor here: a bandit router (EPSILON_GREEDY, THOMPSON_SAMPLING), a model
read from a data repo (`repo@ref:/path`), or any node the engine has no counterpart for
(seldon.py and kserve.py say which). The graph travels in a ConfigMap as an InferenceGraph
with that one predictor, named after the original graph, so clients use the same model name
and paths as locally. The container runs `python -m flowyard.kube.serve_graph`, which
resolves each data ref to a commit when the container starts (the cluster's data store is not
reachable at render time), logs the commit, and serves the graph pinned to it.

The whole predictor goes into one process, not node by node, because a router's choices and
the feedback that teaches it must meet in the same engine: Seldon's executor sends feedback
only to MODEL nodes, and KServe has no feedback path at all.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from flowyard.errors import ConfigError, InvalidInput
from flowyard.kube.context import Manifest, RenderContext
from flowyard.kube.graph_config import MOUNT, PORT, check_class, graph_volume
from flowyard.kube.names import dns_label
from flowyard.kube.platform import STEP_HOME, secret_env, settings_env, store_container
from flowyard.resources.inference_graph import Implementation, InferenceGraph, Predictor
from flowyard.serving import sources

SERVE_MODULE = "flowyard.kube.serve_graph"
READY_PATH = "/v2/health/ready"
LEARNING_ROUTERS = frozenset({Implementation.EPSILON_GREEDY, Implementation.THOMPSON_SAMPLING})
# fsspec schemes a Flowyard container can read from inside the cluster; pvc:// and oci:// are
# KServe's storage-initializer forms, which Flowyard does not read.
_READABLE = re.compile(r"^(s3|s3a|gs|gcs|https?|az|abfs|abfss)://", re.IGNORECASE)
_S3 = re.compile(r"^s3a?://", re.IGNORECASE)


def is_data_ref(uri: str | None) -> bool:
    """`repo@ref:/path`, recognised by the same rule as local serving (serving/sources.py)."""
    return bool(uri) and sources.kind_of(uri or "") == "repo"


def build_served_predictor(graph: InferenceGraph, index: int, container: str,
                           ctx: RenderContext, engine: str, reasons: list[str]
                           ) -> tuple[Manifest, dict[str, Any], dict[str, Any]]:
    """(ConfigMap, container, pod volume) serving predictor `index` of `graph` in one
    Flowyard container named `container`; `reasons` say what `engine` cannot run."""
    resource = f"InferenceGraph {graph.name!r}"
    pred = graph.spec.predictors[index]
    refs: list[tuple[str, str]] = []
    reads_s3 = False
    for path, node in pred.graph.walk(f"spec.predictors[{index}].graph"):
        if node.model_uri is not None:
            _check_source(node.model_uri, ctx, resource, f"{path}.modelUri")
            if is_data_ref(node.model_uri):
                refs.append((f"{path}.modelUri", node.model_uri))
            reads_s3 = reads_s3 or bool(_S3.match(node.model_uri))
        if node.impl is Implementation.PYTHON_CLASS:
            check_class(node, ctx, resource, path)
    if refs and ctx.env.artifact_repository is None:
        where, uri = refs[0]
        raise ctx.unsupported(
            f"a data-store model URI ({uri!r}) without an artifactRepository", resource, where,
            hint="the serving container reads the data store's blobs from the environment's "
                 "S3 bucket: add artifactRepository.s3 to the environment")
    cm_name = dns_label(f"{graph.name}-{pred.name}-graph")
    args = [f"{MOUNT}/graph.yaml", "--host", "0.0.0.0", "--port", str(PORT)]
    box: dict[str, Any] = {"name": container}
    if refs:  # the platform's data store: the same settings and Secrets as the data steps
        box.update(store_container(ctx, SERVE_MODULE, args))
    else:
        box.update({"image": ctx.env.image, "command": ["python", "-m", SERVE_MODULE],
                    "args": args, "env": _s3_env(ctx) if reads_s3 else
                    [{"name": "FLOWYARD_HOME", "value": STEP_HOME}]})
        if ctx.env.image_pull_policy:
            box["imagePullPolicy"] = ctx.env.image_pull_policy
    box["ports"] = [{"containerPort": PORT, "name": "http", "protocol": "TCP"}]
    box["volumeMounts"] = [{"name": "flowyard-graph", "mountPath": MOUNT, "readOnly": True}]
    # Ready once every model has loaded, not merely when the port is open (the default
    # probe of Seldon and Knative): the first requests would find nothing to answer them.
    box["readinessProbe"] = {"httpGet": {"path": READY_PATH, "port": PORT}}
    learning = [node.name for _, node in pred.graph.walk("") if node.impl in LEARNING_ROUTERS]
    ctx.warnings.append(
        f"{resource} predictor {pred.name!r} is served by Flowyard in one container "
        f"({engine} cannot run its {'; '.join(reasons)})"
        + (f"; router {', '.join(map(repr, learning))} learns in the pod's memory and "
           "FLOWYARD_HOME (/tmp): each replica learns on its own and a restarted pod starts "
           "again from the router's parameters" if learning else ""))
    return predictor_configmap(cm_name, graph, pred, ctx), box, graph_volume(cm_name)


def predictor_configmap(name: str, graph: InferenceGraph, pred: Predictor,
                        ctx: RenderContext) -> Manifest:
    """The InferenceGraph `graph` reduced to `pred` (which then takes all traffic)."""
    meta: dict[str, Any] = {"name": graph.name}
    if graph.metadata.labels:
        meta["labels"] = dict(graph.metadata.labels)
    spec: dict[str, Any] = {}
    if graph.spec.description:
        spec["description"] = graph.spec.description
    one = pred.model_dump(mode="json", by_alias=True, exclude_unset=True,
                          exclude={"traffic", "shadow"})
    one["graph"] = pred.graph.model_dump(mode="json", by_alias=True, exclude_unset=True)
    spec["predictors"] = [one]
    body = {"apiVersion": graph.api_version, "kind": "InferenceGraph", "metadata": meta,
            "spec": spec}
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": ctx.meta(name, graph.name, "InferenceGraph"),
            "data": {"graph.yaml": yaml.safe_dump(body, sort_keys=False)}}


def _check_source(uri: str, ctx: RenderContext, resource: str, where: str) -> None:
    """A model location that a container in the cluster can read, or a clear error."""
    kind = sources.kind_of(uri)
    if kind == "repo":
        try:
            sources.parse_repo_uri(uri)
        except ConfigError as exc:
            raise InvalidInput(f"{resource} at {where}: {exc.message}", hint=exc.hint) from None
        return
    if kind == "fsspec" and _READABLE.match(uri):
        return
    what = {"run": "a pipeline run's artifact in this machine's Flowyard home",
            "local": "a path on this machine"}.get(kind, "a location Flowyard cannot read")
    raise ctx.unsupported(f"model location {uri!r} ({what})", resource, where,
                          hint="commit the model to a data repo (a pipeline's outputsTo, or "
                               "`flowyard data put`) and write repo@ref:/path, or upload it "
                               "and use s3://bucket/path (or gs://, https://)")


def _s3_env(ctx: RenderContext) -> list[dict[str, Any]]:
    """The environment's S3 endpoint and keys, for s3:// sources: local `flowyard serve`
    reads them with FLOWYARD_S3_ENDPOINT_URL and the ambient AWS keys the same way."""
    env = [{"name": k, "value": v}
           for k, v in {**settings_env(ctx), "FLOWYARD_HOME": STEP_HOME}.items()]
    return env + [e for e in secret_env(ctx) if e["name"] != "FLOWYARD_DATABASE_URL"]
