"""deploy / diff / undeploy against a recorded fake Kubernetes API server.

There is no cluster here: a small Starlette app on a loopback port answers the calls the
`kubernetes` client makes (discovery, server-side apply PATCH, GET, list, DELETE) and records
each request, and a kubeconfig file points the client at it.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from typer.testing import CliRunner

from flowyard.cli.main import app

# group/version -> kind -> plural; the cluster has Argo and KServe, not Seldon/Emissary.
SERVED: dict[str, dict[str, str]] = {
    "v1": {"ConfigMap": "configmaps", "Service": "services",
           "ServiceAccount": "serviceaccounts", "PersistentVolumeClaim":
           "persistentvolumeclaims"},
    "apps/v1": {"Deployment": "deployments"},
    "rbac.authorization.k8s.io/v1": {"Role": "roles", "RoleBinding": "rolebindings"},
    "argoproj.io/v1alpha1": {"Workflow": "workflows", "WorkflowTemplate": "workflowtemplates"},
    "serving.kserve.io/v1beta1": {"InferenceService": "inferenceservices"},
    "gateway.networking.k8s.io/v1": {"HTTPRoute": "httproutes"},
}


@dataclass
class FakeAPI:
    """Objects by (group/version, plural, namespace, name), and every request seen."""

    objects: dict[tuple[str, str, str, str], dict[str, Any]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""
    reject: dict[str, str] = field(default_factory=dict)
    """Object name -> the message of a 422 the server answers an apply of it with."""

    def calls(self, method: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["method"] == method]


def _status(code: int, message: str) -> JSONResponse:
    return JSONResponse({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                         "message": message, "code": code}, status_code=code)


def _app(api: FakeAPI) -> Starlette:
    async def handle(request: Request) -> JSONResponse:
        path = request.url.path
        body = await request.body()
        api.requests.append({"method": request.method, "path": path,
                             "query": dict(request.query_params),
                             "content_type": request.headers.get("content-type"),
                             "auth": request.headers.get("authorization"),
                             "body": body.decode() if body else ""})
        parts = path.strip("/").split("/")
        gv = "v1" if parts[0] == "api" else "/".join(parts[1:3])
        rest = parts[2:] if parts[0] == "api" else parts[3:]
        kinds = SERVED.get(gv)
        if kinds is None:
            return _status(404, f"the server could not find the requested resource {path}")
        if not rest:
            return JSONResponse({"kind": "APIResourceList", "groupVersion": gv, "resources": [
                {"name": p, "kind": k, "namespaced": True, "verbs": ["get", "patch"]}
                for k, p in kinds.items()]})
        assert rest[0] == "namespaces", path
        ns, plural, name = rest[1], rest[2], (rest[3] if len(rest) > 3 else None)
        if name is None:
            want = dict(kv.split("=") for kv in
                        request.query_params.get("labelSelector", "").split(",") if kv)
            items = [o for (g, p, n, _), o in api.objects.items() if (g, p, n) == (gv, plural,
                     ns) and want.items() <= o["metadata"].get("labels", {}).items()]
            return JSONResponse({"kind": "List", "items": items})
        key = (gv, plural, ns, name)
        if request.method == "GET":
            return JSONResponse(api.objects[key]) if key in api.objects else \
                _status(404, f"{plural} {name!r} not found")
        if request.method == "DELETE":
            if api.objects.pop(key, None) is None:
                return _status(404, f"{plural} {name!r} not found")
            return JSONResponse({"kind": "Status", "status": "Success"})
        if request.method == "PATCH":
            if request.headers.get("content-type") != "application/apply-patch+yaml":
                return _status(415, "unsupported media type")
            obj = yaml.safe_load(body)
            if obj["metadata"].get("name") != name:
                return _status(400, "name in body does not match the URL")
            if name in api.reject:
                return _status(422, api.reject[name])
            live = api.objects.get(key)
            obj["metadata"]["uid"] = live["metadata"]["uid"] if live else f"uid-{name}"
            obj["metadata"]["resourceVersion"] = str(len(api.requests))
            obj["metadata"]["managedFields"] = [
                {"manager": request.query_params["fieldManager"], "operation": "Apply"}]
            if request.query_params.get("dryRun") != "All":
                api.objects[key] = obj
            return JSONResponse(obj)
        return _status(405, "method not allowed")

    return Starlette(routes=[Route("/{path:path}", handle,
                                   methods=["GET", "PATCH", "DELETE"])])


@pytest.fixture
def fake_api() -> Iterator[FakeAPI]:
    api = FakeAPI()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(_app(api), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "fake API server did not start"
        time.sleep(0.02)
    api.url = f"http://127.0.0.1:{port}"
    yield api
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


GRAPH: dict[str, Any] = {
    "apiVersion": "flowyard.dev/v1alpha1", "kind": "InferenceGraph",
    "metadata": {"name": "iris"},
    "spec": {"predictors": [{"name": "main", "graph": {
        "name": "clf", "implementation": "SKLEARN_SERVER", "modelUri": "s3://models/iris"}}]},
}


@pytest.fixture
def setup(fake_api: FakeAPI, tmp_path: Path, make_project: Callable[..., Path],
          schemas: Path) -> tuple[FakeAPI, list[str]]:
    """A project with one graph, a kubeconfig for context kind-test, and common CLI args."""
    project = make_project([GRAPH])
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "other",
        "clusters": [{"name": "fake", "cluster": {"server": fake_api.url}}],
        "users": [{"name": "me", "user": {"token": "t0ken"}}],
        "contexts": [{"name": "kind-test", "context": {"cluster": "fake", "user": "me"}}]}))
    return fake_api, ["--env", "staging", "--project", str(project),
                      "--kubeconfig", str(kubeconfig)]


def _run(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def test_deploy_applies_everything_server_side(setup: tuple[FakeAPI, list[str]]) -> None:
    api, args = setup
    result = _run("deploy", *args)
    assert result.exit_code == 0, result.output
    patches = api.calls("PATCH")
    kinds = [json.loads(p["body"])["kind"] for p in patches]
    assert kinds[:3] == ["ServiceAccount", "Role", "RoleBinding"]   # referenced ones first
    assert {"InferenceService", "HTTPRoute", "Deployment", "Service"} <= set(kinds)
    for p in patches:
        assert p["content_type"] == "application/apply-patch+yaml"
        assert p["query"]["fieldManager"] == "flowyard" and "dryRun" not in p["query"]
        assert p["auth"] == "Bearer t0ken"   # the kubeconfig user's credentials
        assert p["path"].startswith(("/api/v1/namespaces/ml/", "/apis/"))
        labels = json.loads(p["body"])["metadata"]["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "flowyard"
        assert labels["flowyard.dev/environment"] == "staging"
    isvc = ("serving.kserve.io/v1beta1", "inferenceservices", "ml", "iris")
    assert api.objects[isvc]["spec"]["predictor"]["model"]["storageUri"] == "s3://models/iris"
    assert "applied   InferenceService/iris" in result.output


def test_deploy_prunes_what_the_environment_no_longer_declares(
        setup: tuple[FakeAPI, list[str]]) -> None:
    api, args = setup
    stale = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": "old", "namespace": "ml", "labels": {
            "app.kubernetes.io/managed-by": "flowyard", "flowyard.dev/environment": "staging"}}}
    other_env = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": "prod-one", "namespace": "ml", "labels": {
            "app.kubernetes.io/managed-by": "flowyard", "flowyard.dev/environment": "prod"}}}
    api.objects[("v1", "configmaps", "ml", "old")] = stale
    api.objects[("v1", "configmaps", "ml", "prod-one")] = other_env
    result = _run("deploy", *args)
    assert result.exit_code == 0, result.output
    assert "pruned    ConfigMap/old" in result.output
    assert ("v1", "configmaps", "ml", "old") not in api.objects
    assert ("v1", "configmaps", "ml", "prod-one") in api.objects   # another environment's
    lists = [r for r in api.calls("GET") if "labelSelector" in r["query"]]
    assert lists and all(r["query"]["labelSelector"] == "app.kubernetes.io/managed-by="
                         "flowyard,flowyard.dev/environment=staging" for r in lists)
    assert [r["path"] for r in api.calls("DELETE")] == ["/api/v1/namespaces/ml/configmaps/old"]


def test_diff_uses_dry_run_and_changes_nothing(setup: tuple[FakeAPI, list[str]]) -> None:
    api, args = setup
    first = _run("diff", *args)
    assert first.exit_code == 0, first.output
    assert "create    InferenceService/iris" in first.output
    assert not api.objects
    assert all(p["query"]["dryRun"] == "All" for p in api.calls("PATCH"))
    assert _run("deploy", *args).exit_code == 0
    same = _run("diff", *args)
    assert "unchanged InferenceService/iris" in same.output and "update" not in same.output
    key = ("serving.kserve.io/v1beta1", "inferenceservices", "ml", "iris")
    api.objects[key]["spec"]["predictor"]["model"]["storageUri"] = "s3://models/old"
    changed = _run("diff", *args)
    assert "update    InferenceService/iris" in changed.output
    assert "-      storageUri: s3://models/old" in changed.output
    assert "+      storageUri: s3://models/iris" in changed.output


def test_undeploy_deletes_only_this_environment(setup: tuple[FakeAPI, list[str]]) -> None:
    api, args = setup
    assert _run("deploy", *args).exit_code == 0
    keep = ("v1", "configmaps", "ml", "mine")
    api.objects[keep] = {"apiVersion": "v1", "kind": "ConfigMap",
                         "metadata": {"name": "mine", "labels": {}}}
    result = _run("undeploy", *args)
    assert result.exit_code == 0, result.output
    assert list(api.objects) == [keep]
    assert "deleted   Deployment/flowyard" in result.output


def test_unknown_context_names_it_and_the_file(setup: tuple[FakeAPI, list[str]],
                                               tmp_path: Path) -> None:
    _, args = setup
    kubeconfig = tmp_path / "kubeconfig"
    config = yaml.safe_load(kubeconfig.read_text())
    config["contexts"][0]["name"] = "elsewhere"
    kubeconfig.write_text(yaml.safe_dump(config))
    result = _run("deploy", *args)
    assert result.exit_code != 0
    text = str(result.exception)
    assert "'kind-test'" in text and str(kubeconfig) in text


def test_kind_the_cluster_does_not_serve_fails_before_any_change(
        setup: tuple[FakeAPI, list[str]]) -> None:
    api, args = setup
    args = [a if a != "staging" else "seldon" for a in args]   # SeldonDeployment: not served
    result = _run("deploy", *args)
    assert result.exit_code != 0
    text = str(result.exception)
    assert "SeldonDeployment/iris" in text and "machinelearning.seldon.io/v1" in text
    assert not api.calls("PATCH")


def test_unreachable_cluster_names_the_context(setup: tuple[FakeAPI, list[str]],
                                               tmp_path: Path) -> None:
    _, args = setup
    kubeconfig = tmp_path / "kubeconfig"
    config = yaml.safe_load(kubeconfig.read_text())
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    config["clusters"][0]["cluster"]["server"] = f"http://127.0.0.1:{port}"
    kubeconfig.write_text(yaml.safe_dump(config))
    result = _run("diff", *args)
    assert result.exit_code != 0
    assert "'kind-test'" in str(result.exception) and str(port) in str(result.exception)


def test_deploy_template_applies_workflow_templates(setup: tuple[FakeAPI, list[str]],
                                                    tmp_path: Path) -> None:
    api, args = setup
    pipeline = {"apiVersion": "flowyard.dev/v1alpha1", "kind": "Pipeline",
                "metadata": {"name": "hello"},
                "spec": {"components": {"echo": {"container": {
                    "image": "busybox", "command": ["echo", "hi"]}}},
                    "steps": [{"name": "say", "component": "echo"}]}}
    (tmp_path / "res" / "99.yaml").write_text(yaml.safe_dump(pipeline))
    result = _run("deploy", *args, "--template")
    assert result.exit_code == 0, result.output
    assert ("argoproj.io/v1alpha1", "workflowtemplates", "ml", "hello") in api.objects
    assert not any(k[1] == "workflows" for k in api.objects)


def test_server_rejection_names_object_and_message(setup: tuple[FakeAPI, list[str]]) -> None:
    api, args = setup
    api.reject["iris"] = 'InferenceService.serving.kserve.io "iris" is invalid: spec.predictor'
    result = _run("deploy", *args)
    assert result.exit_code != 0
    text = str(result.exception)
    assert "/apis/serving.kserve.io/v1beta1/namespaces/ml/inferenceservices/iris" in text
    assert "422" in text and "spec.predictor" in text
