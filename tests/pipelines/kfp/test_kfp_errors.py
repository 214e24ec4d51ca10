"""What Flowyard cannot run from a kfp pipeline fails early, naming the feature and the task."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from flowyard.errors import InvalidInput
from flowyard.pipelines.kfp import compile_kfp, load_ir_file, translate
from flowyard.pipelines.target import load_target

Compiled = Callable[[str], Path]


@pytest.mark.parametrize(("name", "expected"), [
    ("nested_loops", "kfp task 'for-loop-4': nested ParallelFor (inside 'for-loop-2')"),
    ("importer", "kfp task 'importer': dsl.importer nodes are not supported"),
    ("one_of", "group 'condition-branches-1', a dsl.OneOf, which Flowyard does not support"),
    ("containerized_pipeline", "kfp task 'containerized': a containerized Python component "
                               "(function 'containerized') keeps its code in the image "
                               "'registry.example/echo:1'"),
    ("job_name", "kfp task 'job-name-echo': the kfp placeholder '{{$.pipeline_job_name}}' "
                 "is not supported"),
    ("input_artifact", "the pipeline takes input artifacts (data)"),
])
def test_unsupported_shapes_name_feature_and_task(compiled: Compiled, name: str,
                                                  expected: str) -> None:
    path = compiled(name)
    with pytest.raises(InvalidInput) as info:
        load_target(str(path))
    assert str(path) in info.value.message
    assert expected in info.value.message
    assert info.value.hint


def _ir(compiled: Compiled, name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(compiled(name).read_text())
    return loaded


def test_condition_outside_the_kfp_subset(compiled: Compiled) -> None:
    ir = _ir(compiled, "branches")
    task = ir["root"]["dag"]["tasks"]["condition-5"]
    task["triggerPolicy"]["condition"] = "size(inputs.parameter_values['pipelinechannel--n']) > 2"
    with pytest.raises(InvalidInput) as info:
        translate(ir, origin="edited.yaml")
    message = info.value.message
    assert message.startswith("edited.yaml: kfp task 'condition-5': condition ")
    assert "unsupported operand 'size' at column 1" in message


def test_condition_with_unknown_channel(compiled: Compiled) -> None:
    ir = _ir(compiled, "branches")
    task = ir["root"]["dag"]["tasks"]["condition-5"]
    task["triggerPolicy"]["condition"] = "inputs.parameter_values['pipelinechannel--zz'] == 1"
    with pytest.raises(InvalidInput, match=r"kfp task 'condition-5': condition .* reads "
                                           r"'pipelinechannel--zz', which is not one of"):
        translate(ir, origin="edited.yaml")


def test_artifact_iterator(compiled: Compiled) -> None:
    ir = _ir(compiled, "collect_artifacts")
    loop = ir["root"]["dag"]["tasks"]["for-loop-2"]
    loop["artifactIterator"] = loop.pop("parameterIterator")
    with pytest.raises(InvalidInput, match=r"kfp task 'for-loop-2': ParallelFor over a list "
                                           r"of artifacts \(artifactIterator\)"):
        translate(ir, origin="edited.yaml")


def test_unknown_executor_and_trigger_strategy(compiled: Compiled) -> None:
    ir = _ir(compiled, "w1")
    ir["components"]["comp-add-one"]["executorLabel"] = "exec-missing"
    with pytest.raises(InvalidInput, match=r"kfp task 'add-one': component 'comp-add-one' "
                                           r"names executor 'exec-missing'"):
        translate(ir, origin="edited.yaml")
    ir = _ir(compiled, "w1")
    strategy = {"strategy": "ALL_UPSTREAM_TASKS_SUCCEEDED_X"}
    ir["root"]["dag"]["tasks"]["add-one"]["triggerPolicy"] = strategy
    with pytest.raises(InvalidInput, match=r"'add-one': trigger strategy "
                                           r"'ALL_UPSTREAM_TASKS_SUCCEEDED_X'"):
        translate(ir, origin="edited.yaml")


def test_if_present_placeholder(compiled: Compiled) -> None:
    ir = _ir(compiled, "containers")
    executor = ir["deploymentSpec"]["executors"]["exec-echo-container"]["container"]
    executor["args"].append('{"IfPresent": {"InputName": "text", "Then": ["--text"]}}')
    with pytest.raises(InvalidInput, match=r"kfp task 'echo-container': the IfPresent/Concat "
                                           r"placeholder"):
        translate(ir, origin="edited.yaml")


def test_not_a_kfp_file(tmp_path: Path) -> None:
    path = tmp_path / "plain.yaml"
    path.write_text("a: 1\n")
    with pytest.raises(InvalidInput, match=r"plain.yaml: not a kfp v2 compiled pipeline"):
        load_ir_file(path)
    with pytest.raises(InvalidInput, match=r"x.yaml: not a kfp v2 pipeline"):
        translate({"a": 1}, origin="x.yaml")


def test_kfp_compile_failure_is_reported(tmp_path: Path) -> None:
    module = tmp_path / "broken_kfp.py"
    module.write_text(
        "from kfp import dsl\n\n"
        "@dsl.component(install_kfp_package=False, base_image='python:3.11')\n"
        "def need(x: int) -> int:\n"
        "    return x\n\n"
        "@dsl.pipeline(name='broken')\n"
        "def pipeline(x: int = 1) -> int:\n"
        "    with dsl.ParallelFor([1, 2]) as item:\n"
        "        t = need(x=item)\n"
        "    return t.output\n")
    with pytest.raises(InvalidInput) as info:  # kfp checks the DSL when the module loads
        load_target(f"{module}:pipeline")
    assert info.value.message.startswith(f"{module}: importing it failed: "
                                         "InvalidTopologyException")
    with pytest.raises(InvalidInput, match=r"^here.py:p: the kfp compiler failed: "):
        compile_kfp(object(), "here.py:p")
