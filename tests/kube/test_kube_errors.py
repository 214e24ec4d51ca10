"""Bad input: each error names the place and the way out."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_kube_render import CONTROL, GRAPH_KSERVE, GRAPH_SELDON

from flowyard.errors import NotFound, ResourceInvalid
from flowyard.kube.errors import Unsupported
from flowyard.kube.project import load_project, resolve_params
from flowyard.kube.render import render_project
from flowyard.kube.validate import validate_manifests


def test_unknown_environment_lists_known_ones(make_project: Callable[..., Path]) -> None:
    pf = load_project(make_project([CONTROL]))
    with pytest.raises(NotFound) as err:
        render_project(pf, "stagign")
    assert "unknown environment 'stagign' (did you mean 'staging'?)" in err.value.message
    assert "known environments: local, seldon, staging" in err.value.message


def test_components_folder_holding_the_project_file_skips_it(
        make_project: Callable[..., Path]) -> None:
    project = make_project([CONTROL])
    text = project.read_text().replace("components:\n- res", "components:\n- .")
    assert text != project.read_text()
    project.write_text(text)
    names = [item.resource.name for item in load_project(project).load_components()]
    assert names == [CONTROL["metadata"]["name"]]
    project.write_text(text.replace("components:\n- .", "components:\n- flowyard.yaml"))
    with pytest.raises(ResourceInvalid, match=r"project file \(kind Project\)"):
        load_project(project).load_components()


def test_kubernetes_environment_needs_context_and_namespace(
        make_project: Callable[..., Path]) -> None:
    project = make_project([CONTROL], environments={"prod": {"context": "c"}})
    with pytest.raises(ResourceInvalid) as err:
        load_project(project)
    text = str(err.value)
    assert f"{project}:" in text and "environments.prod" in text
    assert "needs namespace" in text


def test_three_live_predictors_on_kserve_are_unsupported(
        make_project: Callable[..., Path]) -> None:
    # A router is fine on KServe (a Flowyard-served predictor, test_kube_served_graph.py);
    # a traffic split over three revisions is not.
    graph = copy.deepcopy(GRAPH_SELDON)
    graph["spec"]["predictors"][2] = {**graph["spec"]["predictors"][1], "name": "third"}
    for pred, share in zip(graph["spec"]["predictors"], (50, 30, 20), strict=True):
        pred["traffic"] = share
    pf = load_project(make_project([graph]))
    with pytest.raises(Unsupported) as err:
        render_project(pf, "staging")
    assert err.value.message == ("InferenceGraph 'ab' at spec.predictors: 3 live predictors "
                                 "has no equivalent in environment 'staging'")
    assert err.value.hint is not None and "serving: seldon" in err.value.hint


def test_shadow_on_kserve_and_local_model_path(make_project: Callable[..., Path]) -> None:
    pf = load_project(make_project([GRAPH_SELDON]))
    with pytest.raises(Unsupported, match=r"spec.predictors\[2\]: a shadow predictor"):
        render_project(pf, "staging")
    graph = copy.deepcopy(GRAPH_KSERVE)
    graph["spec"]["predictors"][1]["graph"]["children"][0]["modelUri"] = "./model.joblib"
    with pytest.raises(Unsupported) as err:
        render_project(load_project(make_project([graph])), "staging")
    assert "spec.predictors[1].graph.children[0].modelUri" in err.value.message
    assert "'./model.joblib'" in err.value.message


def test_unsupported_pipeline_features(make_project: Callable[..., Path]) -> None:
    pipe: dict[str, Any] = copy.deepcopy(CONTROL)
    pipe["spec"]["steps"][1]["retry"]["backoff"]["factor"] = 1.5
    with pytest.raises(Unsupported) as err:
        render_project(load_project(make_project([pipe])), "staging")
    assert err.value.message == (
        "Pipeline 'control' at spec.steps[1] (each_kind).retry.backoff.factor: a fractional "
        "backoff factor (1.5) has no equivalent in environment 'staging'")
    assert err.value.hint is not None and "integer" in err.value.hint
    pipe = copy.deepcopy(CONTROL)
    pipe["spec"]["steps"][5]["when"] = {"op": "in", "left": {"parameter": "mode"},
                                        "right": {"parameter": "kinds"}}
    with pytest.raises(Unsupported) as err:
        render_project(load_project(make_project([pipe])), "staging")
    assert "spec.steps[5] (literal-loop).when: `in` against a non-literal list" in str(err.value)


def test_artifacts_need_a_repository(make_project: Callable[..., Path]) -> None:
    from test_kube_render import REPO

    text = (f"apiVersion: flowyard.dev/v1alpha1\nkind: Project\nmetadata: {{name: t}}\n"
            f"components: [{REPO}/examples/pipelines/train.yaml]\n"
            "environments:\n  bare: {context: c, namespace: ns}\n")
    with pytest.raises(Unsupported) as err:
        render_project(load_project(make_project([], text=text)), "bare")
    assert "artifacts without an artifact repository" in err.value.message
    assert err.value.hint is not None and "artifactRepository.s3" in err.value.hint


def test_bad_param_override_names_file_and_line(make_project: Callable[..., Path]) -> None:
    project = make_project([CONTROL], params={"components": {"control": {"threshold": "high"}}})
    pf = load_project(project)
    with pytest.raises(ResourceInvalid) as err:
        resolve_params(pf, pf.load_components(), None)
    [problem] = err.value.problems
    assert problem.file == str(project) and problem.line is not None
    assert problem.field == "params.components.control.threshold"
    assert "'high' is not a float" in problem.message


def test_param_for_unknown_component_and_unused_global(
        make_project: Callable[..., Path]) -> None:
    pf = load_project(make_project([CONTROL], params={"components": {"contrl": {"x": 1}}}))
    with pytest.raises(ResourceInvalid, match=r"unknown component 'contrl'.*did you mean "
                                              r"'control'"):
        resolve_params(pf, pf.load_components(), None)
    pf = load_project(make_project([CONTROL], params={"global": {"nobody": 1}}))
    resolved = resolve_params(pf, pf.load_components(), "staging")
    assert any("'nobody' is read by no component" in w for w in resolved.warnings)


def test_invalid_manifest_names_resource_field_and_schema(schemas: Path) -> None:
    bad = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
           "metadata": {"name": "w"},
           "spec": {"entrypoint": "main", "templates": [{"name": "main", "retries": 3}]}}
    [problem] = validate_manifests([(bad, "wf.yaml")], schemas)
    assert problem.file == "wf.yaml" and problem.field == "spec.templates[0]"
    assert "Workflow/w" in problem.message and "'retries'" in problem.message
    assert "CRD argoproj.io/v1alpha1 Workflow" in problem.message


def test_unknown_kind_fails_and_core_kinds_are_checked(schemas: Path) -> None:
    odd = {"apiVersion": "example.com/v1", "kind": "Gizmo", "metadata": {"name": "g"}}
    [problem] = validate_manifests([(odd, None)], schemas)
    assert "no CRD schema for example.com/v1 Gizmo" in problem.message
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Bad_Name"},
          "data": {"a": 1}}
    problems = validate_manifests([(cm, None)], schemas)
    assert any("Kubernetes 1.33.0 schema" in p.message and p.field == "data.a"
               for p in problems)
    assert any(p.field == "metadata.name" and "DNS-1123" in p.message for p in problems)


def test_service_ports_and_selectors_are_wired(schemas: Path) -> None:
    pod = {"metadata": {"labels": {"app": "web"}},
           "spec": {"containers": [{"name": "c", "image": "nginx",
                                    "ports": [{"containerPort": 8080}]}]}}
    deploy = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
              "spec": {"selector": {"matchLabels": {"app": "wbe"}}, "template": pod}}
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
           "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 9090}]}}
    messages = [p.render() for p in validate_manifests([(deploy, None), (svc, None)], schemas)]
    assert any("selector app=wbe does not match" in m for m in messages)
    assert any("targetPort 9090 is no container port" in m for m in messages)
