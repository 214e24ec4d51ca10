"""Flowyard-served predictors: graphs Seldon and KServe cannot express (the quickstart's
EPSILON_GREEDY router over models in a data repo) render as one Flowyard serving container,
validate, and that container, started as its pod would start it, serves from the data store."""

from __future__ import annotations

import copy
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests  # type: ignore[import-untyped]
import yaml
from kube_pods import platform_store, staging_env, start_server

from flowyard.errors import InvalidInput
from flowyard.kube.errors import Unsupported
from flowyard.kube.graph_config import MOUNT, PORT
from flowyard.kube.project import load_project
from flowyard.kube.render import Rendered, render_project, write_folder
from flowyard.kube.validate import read_folder, validate_manifests
from flowyard.serving.config import load_graph, parse_graph
from net_helpers import free_port, wait_http

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart"
SERVE = ["python", "-m", "flowyard.kube.serve_graph"]


def _valid(rendered: Rendered, schemas: Path) -> None:
    problems = validate_manifests([(o, None) for o in rendered.objects], schemas)
    assert not problems, "\n".join(p.render() for p in problems)


def _quickstart(tmp_path: Path, **environments: dict[str, Any]) -> Path:
    """The quickstart's own flowyard.yaml, components made absolute, environments added."""
    body = yaml.safe_load((QUICKSTART / "flowyard.yaml").read_text())
    body["components"] = [str(QUICKSTART / c) for c in body["components"]]
    body["environments"].update(environments)
    (tmp_path / "flowyard.yaml").write_text(yaml.safe_dump(body, sort_keys=False))
    return tmp_path / "flowyard.yaml"


def _served(rendered: Rendered, engine: str) -> tuple[dict[str, Any], dict[str, Any],
                                                       dict[str, Any]]:
    """(the node or predictor spec, its Flowyard container, the pod's graph volume)."""
    if engine == "seldon":
        [dep] = [o for o in rendered.objects if o["kind"] == "SeldonDeployment"]
        [pred] = dep["spec"]["predictors"]
        [spec] = pred["componentSpecs"]
        [box] = spec["spec"]["containers"]
        [volume] = spec["spec"]["volumes"]
        return pred["graph"], box, volume
    [isvc] = [o for o in rendered.objects if o["kind"] == "InferenceService"]
    predictor = isvc["spec"]["predictor"]
    [box] = predictor["containers"]
    [volume] = predictor["volumes"]
    return predictor, box, volume


def _graph_of(rendered: Rendered, volume: dict[str, Any]) -> dict[str, Any]:
    [config] = [o for o in rendered.objects if o["kind"] == "ConfigMap"
                and o["metadata"]["name"] == volume["configMap"]["name"]]
    body: dict[str, Any] = yaml.safe_load(config["data"]["graph.yaml"])
    return body


def test_the_quickstart_project_file_renders_unedited(tmp_path: Path, schemas: Path) -> None:
    """`flowyard render --env cluster` on examples/quickstart as it is (Seldon), read back
    from the written folder."""
    rendered = render_project(load_project(QUICKSTART / "flowyard.yaml"), "cluster")
    write_folder(rendered, tmp_path / "out")
    assert not validate_manifests(read_folder(tmp_path / "out"), schemas)
    kinds = sorted(f"{o['kind']}/{o['metadata']['name']}" for o in rendered.objects)
    assert "SeldonDeployment/cancer" in kinds and "ConfigMap/cancer-main-graph" in kinds
    assert "Mapping/cancer-route" in kinds


@pytest.mark.parametrize("engine", ["seldon", "kserve"])
def test_quickstart_graph_is_one_flowyard_container(tmp_path: Path, schemas: Path,
                                                    engine: str) -> None:
    cluster = yaml.safe_load((QUICKSTART / "flowyard.yaml").read_text())["environments"][
        "cluster"]
    routes = "emissary" if engine == "seldon" else "gateway-api"
    project = _quickstart(tmp_path, target={**cluster, "serving": engine, "routes": routes})
    rendered = render_project(load_project(project), "target")
    _valid(rendered, schemas)
    node, box, volume = _served(rendered, engine)

    # The ConfigMap holds the quickstart's InferenceGraph: same name, description and
    # predictor graph, so clients use the model name `cancer` and the paths they use locally.
    original = load_graph(QUICKSTART / "graph.yaml")
    served = parse_graph(_graph_of(rendered, volume))
    assert served.name == original.name == "cancer"
    assert served.spec.description == original.spec.description
    [pred] = served.spec.predictors
    assert pred.name == "main" and pred.graph == original.spec.predictors[0].graph
    assert pred.graph.children[0].model_uri == "models@master:/texture"  # resolved in the pod

    # The container serves that file on the port the engine calls.
    assert box["image"] == cluster["image"]
    assert box["command"] == SERVE
    assert box["args"] == [f"{MOUNT}/graph.yaml", "--host", "0.0.0.0", "--port", str(PORT)]
    [mount] = box["volumeMounts"]
    assert mount == {"name": volume["name"], "mountPath": MOUNT, "readOnly": True}
    assert [p["containerPort"] for p in box["ports"]] == [PORT]
    assert box["readinessProbe"] == {"httpGet": {"path": "/v2/health/ready", "port": PORT}}
    # It reaches the platform's data store as the data steps do.
    env = {e["name"]: e for e in box["env"]}
    assert env["FLOWYARD_OBJECT_STORE_URL"]["value"] == "s3://flowyard-artifacts/flowyard"
    assert env["FLOWYARD_S3_ENDPOINT_URL"]["value"] == "http://minio.minio.svc:9000"
    assert env["FLOWYARD_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "flowyard-database", "key": "url"}
    assert env["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": "s3-credentials", "key": "secretKey"}
    if engine == "seldon":  # one MODEL node, backed by the container of the same name
        assert node == {"name": box["name"], "type": "MODEL",
                        "endpoint": {"type": "REST", "httpPort": PORT}}
    else:
        assert box["name"] == "kserve-container" and "name" not in box["ports"][0]
    [note] = [w for w in rendered.warnings if "served by Flowyard" in w]
    assert "EPSILON_GREEDY router at spec.predictors[0].graph" in note
    assert "each replica learns on its own" in note


def test_a_native_graph_still_renders_natively(tmp_path: Path, schemas: Path) -> None:
    """Only what Seldon cannot express goes to a Flowyard container: RANDOM_ABTEST over s3
    models stays Seldon's own router and prepackaged servers."""
    graph = yaml.safe_load((QUICKSTART / "graph.yaml").read_text())
    router = graph["spec"]["predictors"][0]["graph"]
    router["implementation"] = "RANDOM_ABTEST"
    router["parameters"] = [{"name": "ratioA", "value": "0.5", "type": "FLOAT"}]
    for child in router["children"]:
        child["modelUri"] = f"s3://models/{child['name']}"
    (tmp_path / "graph.yaml").write_text(yaml.safe_dump(graph))
    cluster = yaml.safe_load((QUICKSTART / "flowyard.yaml").read_text())["environments"][
        "cluster"]
    body = {"apiVersion": "flowyard.dev/v1alpha1", "kind": "Project",
            "metadata": {"name": "t"}, "components": ["graph.yaml"],
            "environments": {"cluster": cluster}}
    (tmp_path / "flowyard.yaml").write_text(yaml.safe_dump(body))
    rendered = render_project(load_project(tmp_path / "flowyard.yaml"), "cluster")
    _valid(rendered, schemas)
    [dep] = [o for o in rendered.objects if o["kind"] == "SeldonDeployment"]
    node = dep["spec"]["predictors"][0]["graph"]
    assert node["implementation"] == "RANDOM_ABTEST"
    assert [c["modelUri"] for c in node["children"]] == ["s3://models/texture",
                                                         "s3://models/logreg"]
    assert "componentSpecs" not in dep["spec"]["predictors"][0]
    assert not any("served by Flowyard" in w for w in rendered.warnings)


def test_a_router_over_s3_models_on_kserve(schemas: Path,
                                           make_project: Callable[..., Path]) -> None:
    """KServe has no routers: the predictor is Flowyard-served, reading s3:// with the
    environment's endpoint and keys but without the database it does not need."""
    graph = yaml.safe_load((QUICKSTART / "graph.yaml").read_text())
    for child in graph["spec"]["predictors"][0]["graph"]["children"]:
        child["modelUri"] = f"s3://models/{child['name']}"
    rendered = render_project(load_project(make_project([graph])), "staging")
    _valid(rendered, schemas)
    _, box, _ = _served(rendered, "kserve")
    env = {e["name"]: e for e in box["env"]}
    assert env["FLOWYARD_S3_ENDPOINT_URL"]["value"] == "http://minio:9000"
    assert env["AWS_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"]["name"] == "s3"
    assert "FLOWYARD_DATABASE_URL" not in env


def _graph(**child: Any) -> dict[str, Any]:
    graph = yaml.safe_load((QUICKSTART / "graph.yaml").read_text())
    graph["spec"]["predictors"][0]["graph"]["children"][1].update(child)
    return graph


@pytest.mark.parametrize("env", ["staging", "seldon"])
def test_what_a_served_container_still_cannot_read(make_project: Callable[..., Path],
                                                   env: str) -> None:
    # A data ref with no S3 bucket for the data store's blobs.
    bare = {"context": "kind-test", "namespace": "ml",
            "serving": "seldon" if env == "seldon" else "kserve"}
    project = make_project([_graph()], environments={env: bare})
    with pytest.raises(Unsupported) as err:
        render_project(load_project(project), env)
    assert err.value.message == (
        "InferenceGraph 'cancer' at spec.predictors[0].graph.children[0].modelUri: a "
        "data-store model URI ('models@master:/texture') without an artifactRepository has "
        f"no equivalent in environment {env!r}")
    assert err.value.hint is not None and "artifactRepository.s3" in err.value.hint
    # Files on this machine, and runs recorded in this machine's Flowyard home.
    for uri, what in (("./logreg.joblib", "a path on this machine"),
                      ("run:abc123/model", "a pipeline run's artifact"),
                      ("pvc://claim/model", "a location Flowyard cannot read")):
        with pytest.raises(Unsupported) as err:
            render_project(load_project(make_project([_graph(modelUri=uri)])), env)
        assert err.value.message.startswith(
            f"InferenceGraph 'cancer' at spec.predictors[0].graph.children[1].modelUri: "
            f"model location {uri!r} ({what}")
        assert err.value.environment == env
        assert err.value.hint is not None and "repo@ref:/path" in err.value.hint
    # A malformed data ref is named with its place before anything is rendered.
    with pytest.raises(InvalidInput, match=r"spec.predictors\[0\].graph.children\[1\]"
                                           r".modelUri: modelUri 'models@:/logreg'"):
        render_project(load_project(make_project([_graph(modelUri="models@:/logreg")])), env)
    # A class in a file on this machine.
    graph = copy.deepcopy(_graph())
    graph["spec"]["predictors"][0]["graph"]["children"][1] = {
        "name": "logreg", "className": "steps.py:Model"}
    with pytest.raises(Unsupported, match=r"children\[1\].className: className "
                                          r"'steps.py:Model' \(a file on this machine\)"):
        render_project(load_project(make_project([graph])), env)


# -- the rendered container, run as its pod would run it --------------------------------------

def _models(cluster: dict[str, Any], s3_endpoint: str, tmp_path: Path) -> str:
    """Two small classifiers at models@master:/texture and /logreg; returns the commit."""
    import joblib
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] > 0).astype(int)
    with platform_store(cluster, s3_endpoint) as ds:
        ds.create_repo("models")
        with ds.open_commit("models@master") as commit:
            for name, model in (("texture", LogisticRegression(C=0.01)),
                                ("logreg", LogisticRegression())):
                joblib.dump(model.fit(X, y), tmp_path / name)
                commit.put_bytes(name, (tmp_path / name).read_bytes())
        return str(ds.resolve("models@master").id)


@pytest.fixture
def stop() -> Iterator[Callable[[subprocess.Popen[str]], None]]:
    started: list[subprocess.Popen[str]] = []
    yield started.append
    for proc in started:  # SIGTERM: the server's graceful stop, as kubelet sends it
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _start(engine: str, cluster: dict[str, Any], s3_endpoint: str, tmp_path: Path,
           stop: Callable[[subprocess.Popen[str]], None]
           ) -> tuple[subprocess.Popen[str], Path, str]:
    env = {**staging_env(s3_endpoint), "serving": engine}
    project = _quickstart(tmp_path, pods=env)
    rendered = render_project(load_project(project), "pods")
    _, box, volume = _served(rendered, engine)
    port = free_port()
    proc, log = start_server(box, [volume], rendered.objects, cluster, tmp_path, port)
    stop(proc)
    return proc, log, f"http://127.0.0.1:{port}"


@pytest.mark.slow  # starts the serving container twice
@pytest.mark.parametrize("engine", ["seldon", "kserve"])
def test_rendered_container_serves_the_quickstart_graph(
        engine: str, cluster: dict[str, Any], s3_endpoint: str, tmp_path: Path,
        stop: Callable[[subprocess.Popen[str]], None]) -> None:
    # Before the models exist the pod fails at start, saying which source and why.
    proc, log, _ = _start(engine, cluster, s3_endpoint, tmp_path, stop)
    assert proc.wait(timeout=60) != 0
    text = log.read_text()
    assert "modelUri 'models@master:/texture'" in text, text

    commit = _models(cluster, s3_endpoint, tmp_path)
    proc, log, url = _start(engine, cluster, s3_endpoint, tmp_path, stop)
    wait_http(f"{url}/v2/health/ready", timeout=90, ok=lambda r: r.status_code == 200,
              proc=proc)
    # The log names the commit each data ref was pinned to when the container started.
    text = log.read_text()
    for name in ("texture", "logreg"):
        assert f"modelUri models@master:/{name}: commit {commit}" in text, text
    meta = requests.get(f"{url}/v2/models/cancer", timeout=10).json()
    sources = meta["parameters"]["sources"]
    assert sources["texture"]["commit"] == sources["logreg"]["commit"] == commit
    assert sources["logreg"]["path"] == "/logreg"

    row = [[2.0, 0.1, -0.3]]
    if engine == "seldon":
        # What Seldon's executor sends to the graph's one MODEL node: /predict, then the
        # client's feedback as /send-feedback; the router hears it.
        request = {"data": {"ndarray": row}}
        answer = requests.post(f"{url}/predict", json=request, timeout=30)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["data"]["ndarray"] == [1]
        assert body["meta"]["routing"] == {"router": 0}   # best_branch 0: texture
        assert body["meta"]["requestPath"]["texture"] == f"models@{commit}:/texture"
        done = requests.post(f"{url}/send-feedback", timeout=30, json={
            "request": request, "response": body, "reward": 1})
        assert done.status_code == 200, done.text
        [router] = requests.get(f"{url}/stats", timeout=10).json()["routers"]
        texture, logreg = router["arms"]
        assert (texture["child"], texture["pulls"], texture["rewards"]) == ("texture", 1, 1.0)
        assert (logreg["child"], logreg["pulls"]) == ("logreg", 0)
    else:
        # KServe sends V2 straight to the container, with the graph's own model name.
        answer = requests.post(f"{url}/v2/models/cancer/infer", timeout=30, json={
            "inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32",
                        "data": row[0]}]})
        assert answer.status_code == 200, answer.text
        [out] = answer.json()["outputs"]
        assert out["data"] == [1]
