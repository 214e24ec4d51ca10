"""Write pipelines in Python, the kfp v2 way: `from flowyard import dsl`.

    @dsl.component
    def add(a: int, b: int) -> int:
        return a + b

    @dsl.pipeline(name="sum")
    def total(x: int = 1):
        first = add(a=x, b=2)
        return add(a=first.output, b=3).output

    resource = dsl.compile(total)        # a flowyard.resources.Pipeline

Importing this module stays cheap (no pydantic): the resource model loads in compile().
See docs/pipelines-sdk.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from flowyard.pipelines.artifacts import (
    HTML,
    Artifact,
    ClassificationMetrics,
    Dataset,
    Markdown,
    Metrics,
    Model,
)
from flowyard.pipelines.sdk_components import (
    ContainerComponent,
    ContainerSpec,
    PythonComponent,
    component,
    container_component,
)
from flowyard.pipelines.sdk_control import Collected, Elif, Else, ExitHandler, If, ParallelFor
from flowyard.pipelines.sdk_pipeline import PipelineDef, pipeline
from flowyard.pipelines.sdk_placeholders import DataInput as DataInput  # docs/data.md
from flowyard.pipelines.sdk_task import Task as PipelineTask
from flowyard.pipelines.sdk_types import (
    Input,
    InputPath,
    Output,
    OutputPath,
    PipelineTaskFinalStatus,
)

if TYPE_CHECKING:
    from flowyard.resources.pipeline import Pipeline


def compile(
        pipeline_func: PipelineDef | Callable[..., Any],
        parameters: Mapping[str, Any] | None = None) -> Pipeline:
    """Compile a @dsl.pipeline to a `Pipeline` resource; `parameters` override defaults."""
    from flowyard.pipelines.compiler import compile_pipeline

    return compile_pipeline(pipeline_func, parameters)


__all__ = [
    "HTML",
    "Artifact",
    "ClassificationMetrics",
    "Collected",
    "ContainerComponent",
    "ContainerSpec",
    "DataInput",
    "Dataset",
    "Elif",
    "Else",
    "ExitHandler",
    "If",
    "Input",
    "InputPath",
    "Markdown",
    "Metrics",
    "Model",
    "Output",
    "OutputPath",
    "ParallelFor",
    "PipelineDef",
    "PipelineTask",
    "PipelineTaskFinalStatus",
    "PythonComponent",
    "compile",
    "component",
    "container_component",
    "pipeline",
]
