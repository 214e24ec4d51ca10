"""Routes to served graphs and the platform's own manifests, validated against schemas."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from flowyard.cli.main import app
from flowyard.kube.project import load_project
from flowyard.kube.render import Rendered, render_platform, render_project
from flowyard.kube.validate import read_folder, validate_manifests

STAGING: dict[str, Any] = {
    "context": "kind-test", "namespace": "ml",
    "image": "ghcr.io/flowyard/flowyard:test",
    "artifactRepository": {"s3": {"bucket": "art", "endpoint": "minio:9000",
                                  "insecure": True, "secret": {"name": "s3"}}},
}
GRAPH_KSERVE: dict[str, Any] = {
    "apiVersion": "flowyard.dev/v1alpha1", "kind": "InferenceGraph",
    "metadata": {"name": "iris"},
    "spec": {"predictors": [{"name": "main", "graph": {
        "name": "clf", "implementation": "SKLEARN_SERVER", "modelUri": "s3://models/iris"}}]},
}
GRAPH_SELDON: dict[str, Any] = {
    "apiVersion": "flowyard.dev/v1alpha1", "kind": "InferenceGraph",
    "metadata": {"name": "ab"},
    "spec": {"predictors": [
        {"name": "main", "traffic": 90, "graph": {
            "name": "a", "implementation": "SKLEARN_SERVER", "modelUri": "s3://m/a"}},
        {"name": "other", "traffic": 10, "graph": {
            "name": "b", "implementation": "XGBOOST_SERVER", "modelUri": "s3://m/b"}}]},
}

ENVS: dict[str, Any] = {
    "local": {"type": "local"},
    "staging": STAGING,
    "seldon": {**STAGING, "serving": "seldon", "routes": "emissary"},
}


def _valid(rendered: Rendered, schemas: Path) -> None:
    problems = validate_manifests([(o, None) for o in rendered.objects], schemas)
    assert not problems, "\n".join(p.render() for p in problems)


def _one(rendered: Rendered, kind: str) -> dict[str, Any]:
    [obj] = [o for o in rendered.objects if o["kind"] == kind]
    return obj


def test_kserve_graph_gets_an_httproute(schemas: Path,
                                        make_project: Callable[..., Path]) -> None:
    rendered = render_project(load_project(make_project([GRAPH_KSERVE], ENVS)), "staging")
    _valid(rendered, schemas)
    route = _one(rendered, "HTTPRoute")
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    [rule] = route["spec"]["rules"]
    assert rule["matches"][0]["path"] == {"type": "PathPrefix", "value": "/serving/ml/iris/"}
    assert rule["filters"][0]["urlRewrite"]["path"]["replacePrefixMatch"] == "/"
    assert rule["backendRefs"] == [{"name": "iris", "port": 80}]
    assert route["metadata"]["labels"]["flowyard.dev/environment"] == "staging"


def test_seldon_graph_gets_an_emissary_mapping(schemas: Path,
                                               make_project: Callable[..., Path]) -> None:
    rendered = render_project(load_project(make_project([GRAPH_SELDON], ENVS)), "seldon")
    _valid(rendered, schemas)
    mapping = _one(rendered, "Mapping")
    assert mapping["apiVersion"] == "getambassador.io/v3alpha1"
    assert mapping["spec"]["prefix"] == "/serving/ml/ab/"
    assert mapping["spec"]["rewrite"] == "/"
    assert mapping["spec"]["service"] == "ab-main.ml:8000"


def test_invalid_route_names_field_and_schema(schemas: Path,
                                              make_project: Callable[..., Path]) -> None:
    rendered = render_project(load_project(make_project([GRAPH_SELDON], ENVS)), "seldon")
    mapping = _one(rendered, "Mapping")
    mapping["spec"]["rewrite"] = 5
    problems = validate_manifests([(mapping, "mapping-ab-route.yaml")], schemas)
    text = "\n".join(p.render() for p in problems)
    assert "spec.rewrite" in text and "5" in text and "mapping-ab-route.yaml" in text


@pytest.mark.parametrize("env", ["staging", "seldon"])
def test_platform_renders_and_validates(env: str, schemas: Path,
                                        make_project: Callable[..., Path]) -> None:
    rendered = render_platform(load_project(make_project([], ENVS)), env)
    _valid(rendered, schemas)
    kinds = sorted(o["kind"] for o in rendered.objects)
    route = "HTTPRoute" if env == "staging" else "Mapping"
    assert kinds == sorted(["ServiceAccount", "Role", "RoleBinding", "ConfigMap",
                            "Deployment", "Service", route])
    box = _one(rendered, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    env_vars = {e["name"]: e for e in box["env"]}
    assert env_vars["FLOWYARD_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "flowyard-database", "key": "url"}
    assert env_vars["AWS_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"]["name"] == "s3"
    data = _one(rendered, "ConfigMap")["data"]
    assert data["FLOWYARD_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert data["FLOWYARD_OBJECT_STORE_URL"] == "s3://art/flowyard"
    groups = {g for rule in _one(rendered, "Role")["rules"] for g in rule["apiGroups"]}
    assert {"argoproj.io", "serving.kserve.io", "machinelearning.seldon.io",
            "kubeflow.org"} <= groups


def test_invalid_platform_object_names_the_field(schemas: Path,
                                                 make_project: Callable[..., Path]) -> None:
    rendered = render_platform(load_project(make_project([], ENVS)), "staging")
    deploy = _one(rendered, "Deployment")
    deploy["spec"]["replicas"] = "two"
    problems = validate_manifests([(deploy, "deployment-flowyard.yaml")], schemas)
    text = "\n".join(p.render() for p in problems)
    assert "replicas" in text and "two" in text and "deployment-flowyard.yaml" in text


def test_render_platform_cli_writes_dockerfile(schemas: Path, tmp_path: Path,
                                               make_project: Callable[..., Path]) -> None:
    project = make_project([], ENVS)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["render", "platform", "--env", "staging",
                                      "--project", str(project), "-o", str(out)])
    assert result.exit_code == 0, result.output
    docker = (out / "Dockerfile").read_text()
    assert docker.startswith("#") and "FROM python:3.11-slim" in docker
    assert 'pip install "flowyard[' in docker
    kust = yaml.safe_load((out / "kustomization.yaml").read_text())
    assert "Dockerfile" not in kust["resources"]
    assert not validate_manifests(read_folder(out), schemas)


def test_render_unknown_target_and_local_env(make_project: Callable[..., Path]) -> None:
    project = str(make_project([], ENVS))
    bad = CliRunner().invoke(app, ["render", "plaform", "--env", "staging",
                                   "--project", project])
    assert bad.exit_code != 0
    assert "'plaform'" in str(bad.exception) or "plaform" in bad.output
    local = CliRunner().invoke(app, ["render", "platform", "--env", "local",
                                     "--project", project])
    assert local.exit_code != 0
    assert "'local'" in (str(local.exception) + local.output)
