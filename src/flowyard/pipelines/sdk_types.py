"""Type markers of the SDK and the mapping from Python annotations to interface types.

`Input[Dataset]` / `Output[Model]` are `typing.Annotated` aliases (kfp v2's shape), so type
checkers see the artifact class itself. Interface types are plain strings here ("int",
"Dataset") so that tracing never imports pydantic; the compiler turns them into the
resource enums.
"""

from __future__ import annotations

import re
import types
import typing
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from flowyard.pipelines.artifacts import ARTIFACT_CLASSES, Artifact

T = TypeVar("T")


class _InputMarker:
    def __repr__(self) -> str:
        return "Input"


class _OutputMarker:
    def __repr__(self) -> str:
        return "Output"


INPUT_MARKER = _InputMarker()
OUTPUT_MARKER = _OutputMarker()

Input = Annotated[T, INPUT_MARKER]
"""`data: Input[Dataset]`: an artifact the step reads (its `.path` is a local file)."""

Output = Annotated[T, OUTPUT_MARKER]
"""`model: Output[Model]`: an artifact the step writes to `.path`."""


class InputPath:
    """`x: dsl.InputPath(Dataset)` in a container component: the artifact's local path."""

    def __init__(self, type: Any = Artifact) -> None:
        self.type = type

    def __repr__(self) -> str:
        return f"InputPath({_type_label(self.type)})"


class OutputPath:
    """`out: dsl.OutputPath(str)` in a container component: a file the command writes.

    A parameter type (str, int, ...) makes an output parameter read from that file; an
    artifact class (or its name, "Dataset") makes an output artifact.
    """

    def __init__(self, type: Any = Artifact) -> None:
        self.type = type

    def __repr__(self) -> str:
        return f"OutputPath({_type_label(self.type)})"


class PipelineTaskFinalStatus(dict[str, Any]):
    """The final state of the run, for the exit handler's task.

    In a pipeline, `notify(status=dsl.PipelineTaskFinalStatus())` passes `{runStatus: true}`;
    a component parameter annotated with this class receives a dict
    `{"state": "Succeeded"|"Failed"|"Cancelled", "run_id": ..., "error": ...}` and is filled
    in automatically when the task is the exit task. (A dict subclass so that
    `status["state"]` type-checks in the component.)
    """

    def __repr__(self) -> str:
        return "PipelineTaskFinalStatus()"


PARAM_TYPES: dict[Any, str] = {
    str: "str", int: "int", float: "float", bool: "bool", list: "list", dict: "dict",
}
ALLOWED_TYPES = ("str, int, float, bool, list, dict (also list[int], typing.List, "
                 "typing.Dict, Optional[...]), Input[Artifact-class], Output[Artifact-class]")


@dataclass(frozen=True, slots=True)
class Kind:
    """What an annotation means for the interface.

    role: "param" (input parameter), "input" / "output" (artifact), "input_path" /
    "output_path" (container only), "status" (PipelineTaskFinalStatus).
    type: a parameter type name ("int") or an artifact type name ("Dataset").
    """

    role: str
    type: str


def param_type(annotation: Any) -> str | None:
    """The parameter type name of an annotation, or None when it is not a parameter type."""
    if annotation in PARAM_TYPES:
        return PARAM_TYPES[annotation]
    origin = typing.get_origin(annotation)
    if origin in (list, dict):
        return PARAM_TYPES[origin]
    if origin in (typing.Union, types.UnionType):
        # Optional[X] / X | None: the type of X, None being a default.
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return param_type(args[0])
    return None


def artifact_type(value: Any) -> str | None:
    """The artifact type name of an artifact class or of its name ("Dataset")."""
    if isinstance(value, str):
        return value if value in ARTIFACT_CLASSES else None
    if isinstance(value, type) and issubclass(value, Artifact):
        return value.TYPE if value.TYPE in ARTIFACT_CLASSES else None
    return None


def classify(annotation: Any) -> Kind | None:
    """Interpret one parameter annotation; None when it is not supported."""
    if annotation is PipelineTaskFinalStatus:
        return Kind("status", "dict")
    if isinstance(annotation, InputPath | OutputPath):
        role = "input_path" if isinstance(annotation, InputPath) else "output_path"
        kind = artifact_type(annotation.type)
        if kind is not None:
            return Kind(role, kind)
        ptype = param_type(annotation.type) or (
            annotation.type if annotation.type in PARAM_TYPES.values() else None)
        if role == "output_path" and ptype is not None:
            return Kind("output_param_path", ptype)
        return None
    if typing.get_origin(annotation) is Annotated:
        base, *extras = typing.get_args(annotation)
        kind = artifact_type(base)
        if kind is not None and any(e is INPUT_MARKER for e in extras):
            return Kind("input", kind)
        if kind is not None and any(e is OUTPUT_MARKER for e in extras):
            return Kind("output", kind)
        return None
    ptype = param_type(annotation)
    return Kind("param", ptype) if ptype is not None else None


def literal_matches(ptype: str, value: Any) -> bool:
    """Whether a literal argument fits a parameter type (None always does: 'unset')."""
    if value is None:
        return True
    if ptype == "bool":
        return isinstance(value, bool)
    if ptype == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if ptype == "float":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if ptype == "str":
        return isinstance(value, str)
    if ptype == "list":
        return isinstance(value, list | tuple)
    return isinstance(value, dict)


def type_of_value(value: Any) -> str | None:
    """The parameter type of a default value, used when a pipeline parameter has no annotation."""
    for cls in (bool, int, float, str, list, dict):
        if isinstance(value, cls):
            return PARAM_TYPES[cls]
    return None


def _type_label(value: Any) -> str:
    return getattr(value, "__name__", repr(value))


def label(annotation: Any) -> str:
    """An annotation as the user wrote it: `Annotated[Dataset, Input]`, `complex`."""
    if isinstance(annotation, type):
        return annotation.__qualname__
    text = repr(annotation).replace("typing.", "")
    return re.sub(r"\b(?:[a-z_][a-z0-9_]*\.)+([A-Z]\w*)", r"\1", text)


def a_type(name: str) -> str:
    """'an int', 'a str': type names in messages."""
    return f"an {name}" if name[:1] in "aeiouAEIOU" else f"a {name}"


@dataclass(frozen=True, slots=True)
class Port:
    """One input or output of a component.

    kind: "param", "artifact", or "status" (an input filled with the run's final status).
    """

    name: str
    kind: str
    type: str
    has_default: bool = False
    default: Any = None
