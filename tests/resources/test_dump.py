"""dump_yaml: readable block YAML that loads back to equal resources."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from flowyard.resources import Pipeline, Resource
from flowyard.resources.loader import dump_yaml, load_path, load_string, parse_resource
from flowyard.resources.pipeline import (
    Backoff,
    Component,
    Condition,
    Interface,
    ParameterSpec,
    PipelineSpec,
    PythonImpl,
    Ref,
    RetryPolicy,
    Step,
)

SOURCE = '''\
def add(x: int, y: int = 1) -> int:
    """Add, with a docstring and a 'quote' and a "double" one."""
    text = "tab\\there"
    return x + y
'''


def add_component() -> Component:
    return Component(
        inputs=Interface(parameters=[ParameterSpec(name="x", type="int"),
                                     ParameterSpec(name="y", type="int", default=1)]),
        outputs=Interface(parameters=[ParameterSpec(name="Output", type="int")]),
        python=PythonImpl(function="add", source=SOURCE),
    )


def built_in_python() -> list[Pipeline]:
    """Pipelines built with the models directly, the way the SDK and the API build them."""
    simple = Pipeline(
        metadata={"name": "simple"},
        spec=PipelineSpec(
            parameters=[ParameterSpec(name="x", type="int", default=2)],
            components={"add": add_component()},
            steps=[Step(name="a", component="add", arguments={"x": Ref(parameter="x")}),
                   Step(name="b", component="add",
                        arguments={"x": Ref(step="a", output="Output")})],
        ),
    )
    tricky = Pipeline(
        metadata={"name": "tricky", "labels": {"a.b/c": "d"}, "namespace": "team-a"},
        spec=PipelineSpec(
            description="strings YAML 1.1 would misread: yes, no, on, 1e3, 2024-01-01",
            parameters=[ParameterSpec(name=n, type="str", default=v) for n, v in (
                ("yes_", "yes"), ("off_", "off"), ("exp", "1e3"), ("day", "2024-01-01"),
                ("nul", "null"), ("tru", "true"), ("trail", "ends with space \n and more  \n"),
                ("colon", "a: b"), ("hash", "# not a comment"), ("empty", ""),
                ("unicode", "café ✓"), ("none", None))],
            components={"add": add_component()},
            steps=[Step(name="loop", component="add", for_each=Ref(value=[1, 2, 3]),
                        parallelism=2, arguments={"x": Ref(item=True), "y": Ref(value=5)},
                        retry=RetryPolicy(limit=3, backoff=Backoff(duration=0.5, factor=3,
                                                                   max_duration=60)),
                        timeout=90, cache=False, display_name="Loop: add")],
            on_exit=Step(name="final", component="add", arguments={"x": Ref(value=0)},
                         when=Condition(op="in", left=Ref(value="x"),
                                        right=Ref(value=["x", "y"]))),
            outputs={"sums": Ref(step="loop", output="Output", collect=True)},
            parallelism=3, deadline=3600, cache=False,
        ),
        status={"phase": "Ready"},
    )
    return [simple, tricky]


def test_example_round_trips(example_path: Path) -> None:
    [loaded] = load_path(example_path)
    [again] = load_string(dump_yaml([loaded.resource]))
    assert again.resource == loaded.resource


@pytest.mark.parametrize("pipeline", built_in_python(), ids=lambda p: p.name)
def test_built_pipelines_round_trip(pipeline: Pipeline) -> None:
    [loaded] = load_string(dump_yaml([pipeline]))
    assert loaded.resource == pipeline
    assert loaded.resource.model_dump() == pipeline.model_dump()


def test_multi_document_round_trip_keeps_order() -> None:
    pipelines = built_in_python()
    text = dump_yaml(pipelines)
    assert text.count("\n---\n") == 1
    assert [item.resource for item in load_string(text)] == pipelines


def test_envelope_keys_come_first_and_source_is_a_literal_block() -> None:
    text = dump_yaml(built_in_python()[1:])
    keys = [line.split(":")[0] for line in text.splitlines() if line and not line[0].isspace()]
    assert keys == ["apiVersion", "kind", "metadata", "spec", "status"]
    assert "source: |\n" in text
    assert '      def add(x: int, y: int = 1) -> int:\n' in text
    assert "{" not in text.split("spec:")[0]  # block style


def test_literal_arguments_use_the_shorthand() -> None:
    text = dump_yaml(built_in_python()[1:])
    assert "      y: 5\n" in text
    assert "    forEach:\n    - 1\n" in text
    assert "x:\n        item: true" in text


def test_mapping_literals_keep_their_value_wrapper() -> None:
    pipeline = built_in_python()[0].model_copy(deep=True)
    pipeline.spec.steps[0].arguments["x"] = Ref(value={"step": "not a ref"})
    text = dump_yaml([pipeline])
    assert "value:\n          step: not a ref" in text
    [loaded] = load_string(text)
    assert loaded.resource.spec.steps[0].arguments["x"].kind == "value"
    assert loaded.resource == pipeline


def test_dump_is_plain_yaml_for_other_tools() -> None:
    text = dump_yaml(built_in_python())
    docs = list(yaml.safe_load_all(text))  # a stock YAML 1.1 reader sees the same strings
    defaults = {p["name"]: p.get("default") for p in docs[1]["spec"]["parameters"]}
    assert defaults["yes_"] == "yes" and defaults["day"] == "2024-01-01"
    assert defaults["exp"] == "1e3" and defaults["tru"] == "true"
    assert "&id" not in text and "*id" not in text


def test_parse_resource_accepts_to_dict_output() -> None:
    for pipeline in built_in_python():
        assert parse_resource(pipeline.to_dict()) == pipeline


def _dsl_pipeline() -> Resource[Any]:
    dsl = pytest.importorskip("flowyard.dsl")

    @dsl.component
    def double(x: int) -> int:
        return x * 2

    @dsl.component
    def total(values: list) -> int:
        return sum(values)

    @dsl.pipeline(name="dsl-sum")
    def sums(xs: list = [1, 2, 3]) -> None:  # noqa: B006 - kfp style defaults
        with dsl.ParallelFor(xs) as x:
            d = double(x=x)
        total(values=dsl.Collected(d.output))

    resource: Resource[Any] = dsl.compile(sums)
    return resource


def test_dsl_compile_output_round_trips() -> None:
    pipeline = _dsl_pipeline()
    [loaded] = load_string(dump_yaml([pipeline]))
    assert loaded.resource == pipeline


# --- non-finite floats ---------------------------------------------------------------------

INF_SOURCE = '''\
def show(t: float = float("inf")) -> float:
    return t
'''


def non_finite_pipeline() -> Pipeline:
    component = Component(
        inputs=Interface(parameters=[ParameterSpec(name="t", type="float",
                                                   default=float("inf"))]),
        outputs=Interface(parameters=[ParameterSpec(name="Output", type="float")]),
        python=PythonImpl(function="show", source=INF_SOURCE),
    )
    spec = PipelineSpec(
        parameters=[ParameterSpec(name="hi", type="float", default=float("inf")),
                    ParameterSpec(name="lo", type="float", default=float("-inf")),
                    ParameterSpec(name="nan", type="float", default=float("nan"))],
        components={"show": component},
        steps=[Step(name="show", component="show",
                    arguments={"t": Ref(parameter="lo")}),
               Step(name="lit", component="show", arguments={"t": Ref(value=float("-inf"))})],
    )
    return Pipeline(metadata={"name": "non-finite"}, spec=spec)


def test_non_finite_floats_are_yaml_constants_and_load_back_as_floats() -> None:
    import math

    text = dump_yaml([non_finite_pipeline()])
    assert "null" not in text
    assert "default: .inf" in text and "default: -.inf" in text and "default: .nan" in text
    assert "t: -.inf" in text   # a literal argument in its short form
    [loaded] = load_string(text)
    spec = loaded.resource.spec
    hi, lo, nan = (p.default for p in spec.parameters)
    assert hi == math.inf and lo == -math.inf and math.isnan(nan)
    assert spec.components["show"].inputs.parameters[0].default == math.inf
    assert spec.steps[1].arguments["t"].value == -math.inf
    # Another YAML reader agrees: .inf is a float, not the string "inf".
    plain = yaml.safe_load(text)
    assert plain["spec"]["parameters"][0]["default"] == math.inf


def test_non_finite_floats_in_json_text_are_strings() -> None:
    import json

    def strict(constant: str) -> Any:
        raise AssertionError(f"bare {constant} in JSON")

    body = json.loads(non_finite_pipeline().model_dump_json(by_alias=True),
                      parse_constant=strict)
    assert [p["default"] for p in body["spec"]["parameters"]] == [
        "Infinity", "-Infinity", "NaN"]
    # to_dict (what YAML and the store get) keeps the floats.
    assert non_finite_pipeline().to_dict()["spec"]["parameters"][0]["default"] == float("inf")
