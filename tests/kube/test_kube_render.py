"""Rendering Flowyard resources to Argo, KServe and Seldon manifests that validate."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from flowyard.kube.errors import Unsupported
from flowyard.kube.project import load_project
from flowyard.kube.render import Rendered, render_project, write_folder
from flowyard.kube.validate import read_folder, validate_manifests

REPO = Path(__file__).resolve().parents[2]


def _render(project: Path, env: str, **kw: Any) -> Rendered:
    return render_project(load_project(project), env, **kw)


def _valid(rendered: Rendered, schemas: Path) -> None:
    problems = validate_manifests([(o, None) for o in rendered.objects], schemas)
    assert not problems, "\n".join(p.render() for p in problems)


def _by_kind(rendered: Rendered, kind: str) -> dict[str, Any]:
    [obj] = [o for o in rendered.objects if o["kind"] == kind]
    return obj


def test_example_project_renders_and_validates(schemas: Path, tmp_path: Path) -> None:
    rendered = _render(REPO / "examples" / "project" / "flowyard.yaml", "staging")
    _valid(rendered, schemas)
    wf = _by_kind(rendered, "Workflow")
    assert wf["metadata"]["namespace"] == "ml-staging"
    args = {p["name"]: p["value"] for p in wf["spec"]["arguments"]["parameters"]}
    assert args == {"test_size": "0.25", "seed": "7"}   # env override beats the global
    tasks = {t["name"]: t for t in wf["spec"]["templates"][0]["dag"]["tasks"]}
    assert tasks["pick-best"]["dependencies"] == ["train-model", "train-model-2"]
    assert wf["spec"]["artifactRepositoryRef"]["configMap"] == "flowyard-artifact-repositories"
    load = next(t for t in wf["spec"]["templates"] if t["name"] == "load-data")
    assert load["container"]["command"] == ["python", "-m", "flowyard.pipelines.kube_step"]
    assert "memoize" in load   # no artifact inputs: cached through Argo memoization
    # One file per object plus kustomization.yaml, and the folder validates as read back.
    paths = write_folder(rendered, tmp_path / "out")
    kust = yaml.safe_load((tmp_path / "out" / "kustomization.yaml").read_text())
    assert sorted(kust["resources"]) == sorted(p.name for p in paths)
    assert not validate_manifests(read_folder(tmp_path / "out"), schemas)


CONTROL: dict[str, Any] = {
    "apiVersion": "flowyard.dev/v1alpha1", "kind": "Pipeline",
    "metadata": {"name": "control"},
    "spec": {
        "parameters": [{"name": "kinds", "type": "list", "default": ["a", "b"]},
                       {"name": "threshold", "type": "float", "default": 0.5},
                       {"name": "mode", "type": "str", "default": "fast"}],
        "parallelism": 3, "deadline": "1h",
        "components": {
            "fan": {"outputs": {"parameters": [{"name": "Output", "type": "list"}]},
                    "python": {"function": "fan", "source": "def fan() -> list:\n"
                               "    return [1, 2]\n"}},
            "work": {"inputs": {"parameters": [{"name": "x", "type": "str"}]},
                     "outputs": {"parameters": [{"name": "Output", "type": "float"}]},
                     "python": {"function": "work", "source": "def work(x: str) -> float:\n"
                                "    return 1.0\n"}},
            "shout": {"inputs": {"parameters": [{"name": "status", "type": "dict"}]},
                      "container": {"image": "alpine:3.20", "command": ["echo"],
                                    "args": ["{{inputs.parameters.status}}"]}},
            "count": {"inputs": {"parameters": [{"name": "values", "type": "list"}]},
                      "container": {"image": "alpine:3.20", "command": ["echo"],
                                    "args": ["{{inputs.parameters.values}}"]}},
        },
        "steps": [
            {"name": "fan", "component": "fan"},
            {"name": "each_kind", "component": "work", "forEach": {"parameter": "kinds"},
             "arguments": {"x": {"item": True}},
             "retry": {"limit": 3, "backoff": {"duration": "2s", "factor": 2,
                                               "maxDuration": "1m"}},
             "timeout": "10m", "resources": {"cpu": "500m", "memory": "1Gi", "gpu": 1}},
            {"name": "each-out", "component": "work", "forEach": {"step": "fan",
                                                                  "output": "Output"},
             "arguments": {"x": {"item": True}}, "cache": False},
            {"name": "limited", "component": "work", "forEach": {"parameter": "kinds"},
             "parallelism": 2, "arguments": {"x": {"item": True}}},
            {"name": "after-limited", "component": "count",
             "arguments": {"values": {"step": "limited", "output": "Output",
                                      "collect": True}}},
            {"name": "literal-loop", "component": "work", "forEach": ["1", "2", "3"],
             "arguments": {"x": {"item": True}}},
            {"name": "maybe", "component": "work", "arguments": {"x": "go"}, "after": ["fan"],
             "when": {"all": [{"op": ">", "left": {"parameter": "threshold"}, "right": 0.1},
                              {"not": {"op": "in", "left": {"parameter": "mode"},
                                       "right": ["x", "y"]}}]}},
        ],
        "onExit": {"name": "notify", "component": "shout",
                   "arguments": {"status": {"runStatus": True}}},
    },
}


def test_control_flow_maps_to_argo(schemas: Path, make_project: Callable[..., Path]) -> None:
    rendered = _render(make_project([CONTROL]), "staging", template=True)
    _valid(rendered, schemas)
    wf = _by_kind(rendered, "WorkflowTemplate")
    spec = wf["spec"]
    assert spec["parallelism"] == 3 and spec["activeDeadlineSeconds"] == 3600
    assert spec["onExit"] == "exit-handler"
    tasks = {t["name"]: t for t in spec["templates"][0]["dag"]["tasks"]}
    assert tasks["each-kind"]["withParam"] == "{{workflow.parameters.kinds}}"
    assert tasks["each-out"]["withParam"] == "{{tasks.fan.outputs.parameters.Output}}"
    assert tasks["literal-loop"]["withItems"] == ["1", "2", "3"]
    assert tasks["maybe"]["when"] == ("({{workflow.parameters.threshold}} > 0.1) && "
                                      "(!('{{workflow.parameters.mode}}' IN ('x', 'y')))")
    assert tasks["maybe"]["dependencies"] == ["fan"]
    templates = {t["name"]: t for t in spec["templates"]}
    each = templates["each-kind"]
    assert each["retryStrategy"] == {"limit": "3", "retryPolicy": "Always",
                                     "backoff": {"duration": "2s", "factor": 2, "cap": "60s"}}
    assert each["activeDeadlineSeconds"] == 600
    assert each["container"]["resources"] == {"requests": {"cpu": "500m", "memory": "1Gi"},
                                              "limits": {"nvidia.com/gpu": "1"}}
    assert "sprig.sha256sum(inputs.parameters.x)" in each["memoize"]["key"]
    assert "memoize" not in templates["each-out"]          # cache: false
    # A loop with its own limit runs inside a wrapper DAG that carries the parallelism.
    assert tasks["limited"]["template"] == "limited-loop"
    assert tasks["limited"]["arguments"]["parameters"] == [
        {"name": "items", "value": "{{workflow.parameters.kinds}}"}]
    wrapper = templates["limited-loop"]
    assert wrapper["parallelism"] == 2
    assert wrapper["dag"]["tasks"][0]["withParam"] == "{{inputs.parameters.items}}"
    assert wrapper["outputs"]["parameters"][0]["valueFrom"]["parameter"] == (
        "{{tasks.limited.outputs.parameters.Output}}")
    assert tasks["after-limited"]["arguments"]["parameters"][0]["value"] == (
        "{{tasks.limited.outputs.parameters.Output}}")
    exit_dag = templates["exit-handler"]["dag"]["tasks"][0]
    [status] = exit_dag["arguments"]["parameters"]
    assert status["value"].startswith('{"state": "{{workflow.status}}"')
    assert templates["notify"]["container"]["image"] == "alpine:3.20"


GRAPH_KSERVE: dict[str, Any] = {
    "apiVersion": "flowyard.dev/v1alpha1", "kind": "InferenceGraph",
    "metadata": {"name": "iris"},
    "spec": {"predictors": [
        {"name": "main", "traffic": 80, "graph": {
            "name": "scale", "type": "TRANSFORMER", "className": "my_pkg.steps:Scale",
            "children": [{"name": "clf", "implementation": "SKLEARN_SERVER",
                          "modelUri": "s3://models/iris/v1"}]}},
        {"name": "canary", "traffic": 20, "graph": {
            "name": "scale", "type": "TRANSFORMER", "className": "my_pkg.steps:Scale",
            "children": [{"name": "clf", "implementation": "SKLEARN_SERVER",
                          "modelUri": "s3://models/iris/v2"}]}},
    ]},
}

GRAPH_SELDON: dict[str, Any] = {
    "apiVersion": "flowyard.dev/v1alpha1", "kind": "InferenceGraph",
    "metadata": {"name": "ab"},
    "spec": {"predictors": [
        {"name": "main", "traffic": 90, "graph": {
            "name": "router", "implementation": "RANDOM_ABTEST",
            "parameters": [{"name": "ratioA", "value": "0.3", "type": "FLOAT"}],
            "children": [{"name": "a", "implementation": "SKLEARN_SERVER",
                          "modelUri": "s3://m/a"},
                         {"name": "b", "implementation": "XGBOOST_SERVER",
                          "modelUri": "gs://m/b"}]}},
        {"name": "custom", "traffic": 10, "graph": {"name": "py", "className": "pkg.m:Model"}},
        {"name": "mirror", "shadow": True, "graph": {
            "name": "cand", "implementation": "SKLEARN_SERVER", "modelUri": "s3://m/c"}},
    ]},
}


def test_inference_graph_to_kserve(schemas: Path, make_project: Callable[..., Path]) -> None:
    rendered = _render(make_project([GRAPH_KSERVE]), "staging")
    _valid(rendered, schemas)
    isvc = _by_kind(rendered, "InferenceService")
    assert isvc["spec"]["predictor"]["canaryTrafficPercent"] == 20
    assert isvc["spec"]["predictor"]["model"]["storageUri"] == "s3://models/iris/v2"
    assert isvc["spec"]["transformer"]["containers"][0]["args"][0] == "serve"
    graphs = [o for o in rendered.objects if o["kind"] == "ConfigMap"
              and "graph.yaml" in o.get("data", {})]
    [config] = graphs
    body = yaml.safe_load(config["data"]["graph.yaml"])
    child = body["spec"]["predictors"][0]["graph"]["children"][0]
    assert child["endpoint"]["url"] == "http://iris-predictor.ml"
    assert any("deploy that one first" in w for w in rendered.warnings)


def test_inference_graph_to_seldon(schemas: Path, make_project: Callable[..., Path]) -> None:
    rendered = _render(make_project([GRAPH_SELDON]), "seldon")
    _valid(rendered, schemas)
    dep = _by_kind(rendered, "SeldonDeployment")
    preds = {p["name"]: p for p in dep["spec"]["predictors"]}
    assert preds["main"]["traffic"] == 90 and preds["custom"]["traffic"] == 10
    assert preds["mirror"]["shadow"] is True and "traffic" not in preds["mirror"]
    router = preds["main"]["graph"]
    assert router["implementation"] == "RANDOM_ABTEST"
    assert [c["implementation"] for c in router["children"]] == ["SKLEARN_SERVER",
                                                                 "XGBOOST_SERVER"]
    box = preds["custom"]["componentSpecs"][0]["spec"]["containers"][0]
    assert box["name"] == "py" and box["command"] == ["flowyard"]


DATA: dict[str, Any] = {
    "apiVersion": "flowyard.dev/v1alpha1", "kind": "DataPipeline",
    "metadata": {"name": "edges"},
    "spec": {"input": {"cross": [{"pfs": {"repo": "images", "glob": "/*"}},
                                 {"pfs": {"repo": "params", "glob": "/"}}]},
             "transform": {"cmd": ["sh", "-c", "cp -r $FLOWYARD_INPUT $FLOWYARD_OUTPUT"]},
             "parallelism": 4, "datumTries": 2, "datumTimeout": 30},
}


def test_data_pipeline_fans_out_over_datums(schemas: Path,
                                            make_project: Callable[..., Path]) -> None:
    rendered = _render(make_project([DATA]), "staging")
    _valid(rendered, schemas)
    wf = _by_kind(rendered, "Workflow")
    assert wf["spec"]["parallelism"] == 4
    tasks = {t["name"]: t for t in wf["spec"]["templates"][0]["dag"]["tasks"]}
    assert tasks["process"]["withParam"] == "{{tasks.list-datums.outputs.parameters.datums}}"
    process = next(t for t in wf["spec"]["templates"] if t["name"] == "process-datum")
    assert process["retryStrategy"]["limit"] == "1"
    assert process["activeDeadlineSeconds"] == 30
    assert process["outputs"]["parameters"][0]["name"] == "result"
    assert tasks["commit"]["arguments"]["parameters"][0]["value"] == (
        "{{tasks.process.outputs.parameters.result}}")
    assert wf["spec"]["onExit"] == "finish"
    env = {e["name"]: e for e in process["container"]["env"]}
    assert env["FLOWYARD_OBJECT_STORE_URL"]["value"] == "s3://art/flowyard"
    assert env["FLOWYARD_S3_ENDPOINT_URL"]["value"] == "http://minio:9000"
    assert env["FLOWYARD_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "flowyard-database", "key": "url"}
    assert env["AWS_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"]["name"] == "s3"
    assert "--job" in process["container"]["args"]
    assert not any("not implemented" in w for w in rendered.warnings)


def test_data_pipeline_needs_an_artifact_repository(make_project: Callable[..., Path]) -> None:
    bare = {"context": "kind-test", "namespace": "ml"}
    project = make_project([DATA], environments={"staging": bare})
    with pytest.raises(Unsupported, match=r"DataPipeline 'edges' at .*00\.yaml:\d+: a "
                       r"DataPipeline without an artifactRepository .* 'staging'"):
        _render(project, "staging")


@pytest.mark.parametrize("env", ["staging", "seldon"])
def test_rendered_output_is_stable(make_project: Callable[..., Path], env: str) -> None:
    project = make_project([CONTROL, GRAPH_SELDON if env == "seldon" else GRAPH_KSERVE, DATA])
    assert _render(project, env).objects == _render(project, env).objects
