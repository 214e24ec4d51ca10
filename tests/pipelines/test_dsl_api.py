"""The public face of flowyard.dsl: exported names, import cost, component objects."""

from __future__ import annotations

import subprocess
import sys
import typing
from typing import Annotated, Any, Optional

import pytest

from flowyard import dsl
from flowyard.dsl import Dataset, Input, Model, Output
from flowyard.pipelines import artifacts
from flowyard.pipelines.sdk_types import INPUT_MARKER, OUTPUT_MARKER, Port


def test_exported_names() -> None:
    assert sorted(dsl.__all__) == sorted([
        "HTML", "Artifact", "ClassificationMetrics", "Collected", "ContainerComponent", "DataInput",
        "ContainerSpec", "Dataset", "Elif", "Else", "ExitHandler", "If", "Input", "InputPath",
        "Markdown", "Metrics", "Model", "Output", "OutputPath", "ParallelFor", "PipelineDef",
        "PipelineTask", "PipelineTaskFinalStatus", "PythonComponent", "compile", "component",
        "container_component", "pipeline",
    ])
    for name in dsl.__all__:
        assert getattr(dsl, name) is not None
    assert dsl.Dataset is artifacts.Dataset and dsl.Model is artifacts.Model


def test_import_is_light() -> None:
    code = ("import sys, flowyard.dsl; "
            "heavy = [m for m in ('pydantic', 'yaml', 'sqlalchemy') if m in sys.modules]; "
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == ""


def test_input_output_are_annotated_markers() -> None:
    assert typing.get_origin(Input[Dataset]) is Annotated
    assert typing.get_args(Input[Dataset]) == (Dataset, INPUT_MARKER)
    assert typing.get_args(Output[Model]) == (Model, OUTPUT_MARKER)


@dsl.component(packages_to_install=["numpy"], base_image="python:3.11-slim")
def scale(xs: list[float], data: Input[Dataset], out: Output[Model],
          factor: Optional[float] = None) -> dict[str, float]:  # noqa: UP045
    """Scale numbers."""
    return {"n": float(len(xs)) * (factor or 1.0)}


def test_component_object() -> None:
    assert isinstance(scale, dsl.PythonComponent)
    assert scale.__name__ == "scale" and scale.__doc__ == "Scale numbers."
    assert scale.name == "scale" and scale.packages == ["numpy"]
    assert scale.base_image == "python:3.11-slim"
    assert scale.inputs == [Port("xs", "param", "list"),
                            Port("data", "artifact", "Dataset"),
                            Port("factor", "param", "float", True, None)]
    assert scale.outputs == [Port("out", "artifact", "Model"), Port("Output", "param", "dict")]
    assert scale.source.startswith("def scale(xs: list[float]")
    assert "@dsl.component" not in scale.source
    assert scale([1.0, 2.0], Dataset(), Model(), 2.0) == {"n": 4.0}
    assert repr(scale).startswith("<component 'scale' from ")


def test_components_defined_in_a_class_body_or_function_are_dedented() -> None:
    def make() -> Any:
        if True:
            @dsl.component
            def nested(x: int) -> int:
                return x

        return nested

    assert make().source == "def nested(x: int) -> int:\n    return x\n"


def test_multi_line_strings_keep_their_content_when_dedented() -> None:
    def make() -> Any:
        @dsl.component
        def text() -> str:
            return """a
b
    c"""
        return text

    component = make()
    assert component.source == 'def text() -> str:\n    return """a\nb\n    c"""\n'
    namespace: dict[str, Any] = {}
    exec(component.source, namespace)
    assert namespace["text"]() == component() == "a\nb\n    c"


def test_source_cannot_be_read_for_exec_defined_functions() -> None:
    from flowyard.errors import InvalidInput

    namespace: dict[str, Any] = {}
    exec("def ghost(x: int) -> int:\n    return x\n", namespace)
    with pytest.raises(InvalidInput, match="component 'ghost': cannot read its source"):
        dsl.component(namespace["ghost"])


def test_tasks_outside_a_pipeline_and_status_class() -> None:
    status = dsl.PipelineTaskFinalStatus()
    assert status == {} and repr(status) == "PipelineTaskFinalStatus()"
    spec = dsl.ContainerSpec(image="alpine")
    assert (spec.command, spec.args, spec.env) == ([], [], {})


def test_the_docs_example_compiles(tmp_path: Any) -> None:
    from pathlib import Path

    from flowyard.pipelines.target import load_target

    docs = Path(__file__).resolve().parents[2] / "docs" / "pipelines-sdk.md"
    example = docs.read_text().split("```python\n", 1)[1].split("```", 1)[0]
    (tmp_path / "docs_example.py").write_text(example)
    pipeline = load_target(f"{tmp_path / 'docs_example.py'}:train_pipeline")
    assert [s.name for s in pipeline.spec.steps] == ["load", "train", "pick", "say"]
    assert pipeline.spec.parameters[0].default == 100
