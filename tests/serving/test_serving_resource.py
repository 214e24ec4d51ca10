"""InferenceGraph validation: each error names the field path (and file:line from YAML)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from serving_helpers import graph_of, single

from flowyard.errors import NotFound, ResourceInvalid
from flowyard.resources import KINDS
from flowyard.resources.inference_graph import Implementation, InferenceGraph, NodeType
from flowyard.serving import load_graph

SK = {"name": "m", "implementation": "SKLEARN_SERVER", "modelUri": "x.joblib"}


def problems(spec: dict[str, Any]) -> str:
    with pytest.raises(ResourceInvalid) as info:
        graph_of(spec)
    return str(info.value)


def test_kind_is_registered_and_defaults_are_implied() -> None:
    assert KINDS["InferenceGraph"] is InferenceGraph
    g = graph_of({"predictors": [{"name": "p", "graph": {
        "name": "ab", "implementation": "RANDOM_ABTEST",
        "parameters": [{"name": "ratioA", "value": "0.3", "type": "FLOAT"}],
        "children": [SK, {**SK, "name": "m2"}]}}]})
    node = g.spec.predictors[0].graph
    assert node.node_type is NodeType.ROUTER
    assert node.params() == {"ratioA": 0.3}
    assert node.children[0].node_type is NodeType.MODEL
    assert g.spec.traffic_of(g.spec.predictors[0]) == 100
    assert g.to_dict()["spec"]["predictors"][0]["graph"]["children"][0]["modelUri"] == "x.joblib"


def test_traffic_must_sum_to_100_over_live_predictors() -> None:
    text = problems({"predictors": [
        {"name": "a", "traffic": 70, "graph": SK},
        {"name": "b", "traffic": 20, "graph": SK},
        {"name": "s", "shadow": True, "graph": SK}]})
    assert "spec.predictors[*].traffic" in text
    assert "sums to 90 (a=70, b=20)" in text


def test_duplicate_names_and_missing_children_are_all_listed() -> None:
    text = problems({"predictors": [{"name": "p", "graph": {
        "name": "r", "type": "ROUTER", "className": "x:Y", "children": []}},
        {"name": "p", "traffic": 0, "graph": {"name": "t", "type": "TRANSFORMER",
                                              "className": "x:Y",
                                              "children": [SK, SK]}}]})
    assert "spec.predictors[0].graph.children: a ROUTER needs children" in text
    assert "spec.predictors[1].name: duplicate predictor name (got 'p')" in text
    assert "spec.predictors[1].graph.children: a TRANSFORMER node has at most one child" in text
    assert "spec.predictors[1].graph.children[1].name: duplicate node name" in text


def test_node_fields_are_checked_against_the_implementation() -> None:
    text = problems(single({"name": "m", "implementation": "SKLEARN_SERVER",
                            "className": "a:B", "children": [
                                {"name": "c", "implementation": "PYTHON_CLASS"},
                                {"name": "d", "implementation": "REMOTE"}]}))
    assert "spec.predictors[0].graph.modelUri: SKLEARN_SERVER needs the model's location" in text
    assert "spec.predictors[0].graph.className: className only applies to PYTHON_CLASS" in text
    assert "spec.predictors[0].graph.children[0].className: a PYTHON_CLASS node needs" in text
    assert "spec.predictors[0].graph.children[1].endpoint: a REMOTE node needs" in text


def test_remote_endpoint_protocol_fits_the_url() -> None:
    g = graph_of(single({"name": "r", "endpoint": {"url": "grpc://10.0.0.5:8081"}}))
    assert g.spec.predictors[0].graph.endpoint.protocol.value == "grpc"  # type: ignore[union-attr]
    text = problems(single({"name": "r", "endpoint": {"url": "grpc://h:1",
                                                      "protocol": "seldon"}}))
    assert "spec.predictors[0].graph.endpoint: protocol 'seldon' does not fit url" in text
    text = problems(single({"name": "r", "endpoint": {"url": "ftp://h"}}))
    assert "spec.predictors[0].graph.endpoint.url: an endpoint url is http://host:port" in text


def test_router_parameters_and_types() -> None:
    text = problems(single({"name": "ab", "implementation": "RANDOM_ABTEST",
                            "parameters": [{"name": "ratioA", "value": 1.5, "type": "FLOAT"}],
                            "children": [SK, {**SK, "name": "m2"}, {**SK, "name": "m3"}]}))
    assert "RANDOM_ABTEST routes between exactly 2 children (3 given)" in text
    assert "spec.predictors[0].graph.parameters.ratioA: ratioA is the share" in text
    assert "(got 1.5)" in text
    text = problems(single({**SK, "type": "ROUTER"}))
    assert "spec.predictors[0].graph.type: implementation SKLEARN_SERVER serves a model" in text


def test_bad_parameter_value_names_the_parameter() -> None:
    text = problems(single({**SK, "parameters": [{"name": "n", "value": "ten",
                                                  "type": "INT"}]}))
    assert "spec.predictors[0].graph.parameters[0]" in text
    assert "parameter 'n': value 'ten' is not a valid INT" in text


def test_unknown_field_and_enum_are_reported() -> None:
    text = problems(single({**SK, "modelUrl": "typo"}))
    assert "spec.predictors[0].graph.modelUrl" in text
    text = problems(single({**SK, "implementation": "SKLEARN"}))
    assert "spec.predictors[0].graph.implementation" in text
    assert Implementation.SKLEARN_SERVER.value in text


def test_load_graph_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "g.yaml"
    path.write_text("apiVersion: flowyard.dev/v1alpha1\nkind: InferenceGraph\n"
                    "metadata: {name: g}\nspec:\n  predictors:\n    - name: p\n"
                    "      graph:\n        name: r\n        type: ROUTER\n"
                    "        className: a:B\n")
    with pytest.raises(ResourceInvalid) as info:
        load_graph(path)
    # `children` is missing, so the line is the closest existing parent, `graph:`
    assert f"{path}:7: spec.predictors[0].graph.children: a ROUTER needs children" in str(
        info.value)
    (tmp_path / "bad.yaml").write_text("spec: [unclosed\n")
    with pytest.raises(ResourceInvalid, match=r"bad\.yaml:2: not valid YAML"):
        load_graph(tmp_path / "bad.yaml")
    with pytest.raises(NotFound, match="does not exist"):
        load_graph(tmp_path / "missing.yaml")


def test_graph_problems_are_located_for_other_loaders() -> None:
    from pydantic import ValidationError

    from flowyard.resources.inference_graph import GraphProblems

    with pytest.raises(ValidationError) as info:
        InferenceGraph.model_validate({"kind": "InferenceGraph", "metadata": {"name": "g"},
                                       "spec": {"predictors": [
                                           {"name": "a", "traffic": 60, "graph": {
                                               "name": "m", "implementation": "SKLEARN_SERVER",
                                           }}]}})
    (error,) = info.value.errors()
    assert error["loc"] == ("spec",)
    cause = error["ctx"]["error"]
    assert isinstance(cause, GraphProblems)
    assert [loc for loc, _ in cause.located()] == [
        ("predictors", 0, "graph", "modelUri"), ("predictors",)]
