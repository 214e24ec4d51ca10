"""Flowyard-served graph nodes: a ConfigMap holding a small InferenceGraph, and the container
that runs `flowyard serve` on it (V2 REST and Seldon's /api/v1.0/predictions on port 8080).

Spec: https://kubernetes.io/docs/concepts/configuration/configmap/#using-configmaps-as-files-from-a-pod
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from flowyard.kube.context import Manifest, RenderContext
from flowyard.kube.names import dns_label
from flowyard.resources.inference_graph import Implementation, Node

MOUNT = "/etc/flowyard/graph"
PORT = 8080
_REMOTE_SCHEMES = re.compile(r"^(s3|gs|gcs|https?|pvc|hf|oci|azure)://")


def model_uri(node: Node, ctx: RenderContext, resource: str, where: str) -> str:
    """The node's model URI if a cluster can fetch it; local paths and run: URIs cannot."""
    uri = node.model_uri or ""
    if not _REMOTE_SCHEMES.match(uri):
        raise ctx.unsupported(f"model location {uri!r} (a path on this machine)", resource,
                              f"{where}.modelUri",
                              hint="upload the model and use s3://bucket/path (or gs://, "
                                   "https://, pvc://)")
    return uri


def check_class(node: Node, ctx: RenderContext, resource: str, where: str) -> None:
    name = node.class_name or ""
    module = name.partition(":")[0]
    if module.endswith(".py") or "/" in module:
        raise ctx.unsupported(f"className {name!r} (a file on this machine)", resource,
                              f"{where}.className",
                              hint="package the class into the image and write "
                                   "'module:Class'")


def graph_configmap(name: str, resource: str, graph: Node, ctx: RenderContext) -> Manifest:
    body = {"apiVersion": "flowyard.dev/v1alpha1", "kind": "InferenceGraph",
            "metadata": {"name": dns_label(name)},
            "spec": {"predictors": [{"name": "main", "graph": _node_dict(graph)}]}}
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": ctx.meta(name, resource, "InferenceGraph"),
            "data": {"graph.yaml": yaml.safe_dump(body, sort_keys=False)}}


def _node_dict(node: Node) -> dict[str, Any]:
    out = node.model_dump(mode="json", by_alias=True, exclude_unset=True)
    out["children"] = [_node_dict(c) for c in node.children]
    if not out["children"]:
        del out["children"]
    return out


def remote(name: str, url: str, model: str) -> Node:
    return Node(name=name, implementation=Implementation.REMOTE,
                endpoint={"url": url, "protocol": "v2", "modelName": model})


def serve_container(container_name: str, ctx: RenderContext) -> dict[str, Any]:
    box: dict[str, Any] = {
        "name": container_name,
        "image": ctx.env.image,
        "command": ["flowyard"],
        "args": ["serve", f"{MOUNT}/graph.yaml", "--host", "0.0.0.0", "--port", str(PORT)],
        "ports": [{"containerPort": PORT, "name": "http", "protocol": "TCP"}],
        "volumeMounts": [{"name": "flowyard-graph", "mountPath": MOUNT, "readOnly": True}],
    }
    if ctx.env.image_pull_policy:
        box["imagePullPolicy"] = ctx.env.image_pull_policy
    return box


def graph_volume(configmap: str) -> dict[str, Any]:
    return {"name": "flowyard-graph", "configMap": {"name": configmap}}
