"""The `Pipeline` kind: components, steps and the data flow between them.

A Pipeline is what the SDK compiles to and what the engine runs; it is also plain YAML::

    apiVersion: flowyard.dev/v1alpha1
    kind: Pipeline
    metadata: {name: add}
    spec:
      parameters:
        - {name: x, type: int, default: 1}
      components:
        add-one:
          inputs:
            parameters: [{name: x, type: int}]
          outputs:
            parameters: [{name: Output, type: int}]
          python:
            function: add_one
            source: |
              def add_one(x: int) -> int:
                  return x + 1
      steps:
        - name: first
          component: add-one
          arguments: {x: {parameter: x}}
        - name: second
          component: add-one
          arguments: {x: {step: first, output: Output}}

Argument sources (`Ref`): `{value: V}` (or a bare scalar/list), `{parameter: P}` (pipeline
parameter), `{step: S, output: O}` (another step's output parameter or artifact; with
`collect: true` the ordered list of a looped step's outputs), `{item: true}` / `{item: KEY}`
(the current loop item, or one key of it), `{runStatus: true}` (exit handler only),
`{groupStatus: true}` (a `trigger: allDone` step only: the status of the steps it runs after),
`{data: "repo@ref:/path"}` (a file or folder of a versioned data repo, as an input artifact).

A step's `outputsTo: {ARTIFACT: "repo@branch:/path"}` commits that output artifact into a data
repo when the step succeeds, with provenance to the data commits the run read.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from flowyard.resources.base import FlowModel, Resource

IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
STEP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def _parse_duration(value: Any) -> Any:
    """Seconds as a number, or Argo/Go style strings: '500ms', '30s', '5m', '2h'."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ValueError(
                "a duration is seconds (30) or a string like '500ms', '30s', '5m', '2h'"
            )
        return float(match.group(1)) * _UNIT[match.group(2)]
    return value


Duration = Annotated[float, BeforeValidator(_parse_duration), Field(gt=0)]


class ParamType(StrEnum):
    STR = "str"
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    LIST = "list"
    DICT = "dict"


class ArtifactType(StrEnum):
    ARTIFACT = "Artifact"
    DATASET = "Dataset"
    MODEL = "Model"
    METRICS = "Metrics"
    CLASSIFICATION_METRICS = "ClassificationMetrics"
    HTML = "HTML"
    MARKDOWN = "Markdown"


class ParameterSpec(FlowModel):
    name: str
    type: ParamType = ParamType.STR
    default: Any = None
    description: str | None = None

    @field_validator("name")
    @classmethod
    def _ident(cls, value: str) -> str:
        if not IDENT.match(value):
            raise ValueError("a parameter name is a Python identifier (letters, digits, '_')")
        return value

    @property
    def has_default(self) -> bool:
        return "default" in self.model_fields_set


class ArtifactSpec(FlowModel):
    name: str
    type: ArtifactType = ArtifactType.ARTIFACT
    description: str | None = None

    @field_validator("name")
    @classmethod
    def _ident(cls, value: str) -> str:
        if not IDENT.match(value):
            raise ValueError("an artifact name is a Python identifier (letters, digits, '_')")
        return value


class Interface(FlowModel):
    parameters: list[ParameterSpec] = Field(default_factory=list)
    artifacts: list[ArtifactSpec] = Field(default_factory=list)

    def parameter(self, name: str) -> ParameterSpec | None:
        return next((p for p in self.parameters if p.name == name), None)

    def artifact(self, name: str) -> ArtifactSpec | None:
        return next((a for a in self.artifacts if a.name == name), None)

    def names(self) -> list[str]:
        return [p.name for p in self.parameters] + [a.name for a in self.artifacts]


class PythonImpl(FlowModel):
    """A lightweight Python component: the function's source travels with the pipeline."""

    function: str
    source: str
    packages: list[str] = Field(default_factory=list)
    """Packages the step needs; recorded for the Kubernetes image, not installed locally."""


class ContainerImpl(FlowModel):
    """A container step. Locally its command runs in the host environment (with a warning).

    Placeholders in command/args: {{inputs.parameters.NAME}}, {{inputs.artifacts.NAME.path}},
    {{outputs.parameters.NAME.path}}, {{outputs.artifacts.NAME.path}}.
    """

    image: str
    command: list[str] = Field(default_factory=list)
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)


class Component(FlowModel):
    description: str | None = None
    inputs: Interface = Field(default_factory=Interface)
    outputs: Interface = Field(default_factory=Interface)
    python: PythonImpl | None = None
    container: ContainerImpl | None = None

    @model_validator(mode="after")
    def _one_impl(self) -> Component:
        if (self.python is None) == (self.container is None):
            raise ValueError("a component has exactly one of `python` or `container`")
        return self


def _shorthand_value(value: Any) -> Any:
    # A bare scalar or list is a literal; a mapping must say which source it is.
    # A Ref built in Python is already a source, not a literal.
    if not isinstance(value, dict | Ref):
        return {"value": value}
    return value


class Ref(FlowModel):
    """Where an argument's value comes from; exactly one source form is allowed."""

    value: Any = None
    parameter: str | None = None
    step: str | None = None
    output: str | None = None
    collect: bool = False
    item: bool | str | None = None
    run_status: bool = False
    group_status: bool = False
    """The final status of the steps a `trigger: allDone` step runs after (its group)."""
    data: str | None = None
    """`repo@ref:/path` of a versioned data repo; only for input artifacts."""

    @model_validator(mode="after")
    def _one_source(self) -> Ref:
        forms = [
            "value" in self.model_fields_set,
            self.parameter is not None,
            self.step is not None,
            self.item not in (None, False),
            self.run_status,
            self.group_status,
            self.data is not None,
        ]
        if sum(forms) != 1:
            raise ValueError(
                "an argument is exactly one of {value: V}, {parameter: P}, "
                "{step: S, output: O}, {item: true|KEY}, {runStatus: true}, "
                "{groupStatus: true} or {data: 'repo@ref:/path'}"
            )
        if self.step is not None and not self.output:
            raise ValueError("{step: ...} needs `output:` naming one of that step's outputs")
        if self.output is not None and self.step is None:
            raise ValueError("`output:` needs `step:` naming the step that produces it")
        if self.collect and self.step is None:
            raise ValueError("`collect: true` only applies to {step: S, output: O}")
        return self

    @property
    def kind(self) -> Literal["value", "parameter", "step", "item", "run_status",
                              "group_status", "data"]:
        if self.data is not None:
            return "data"
        if self.parameter is not None:
            return "parameter"
        if self.step is not None:
            return "step"
        if self.item not in (None, False):
            return "item"
        if self.run_status:
            return "run_status"
        if self.group_status:
            return "group_status"
        return "value"


RefLike = Annotated[Ref, BeforeValidator(_shorthand_value)]


class Condition(FlowModel):
    """A guard on a step: a comparison, or all/any/not of conditions."""

    op: Literal["==", "!=", "<", "<=", ">", ">=", "in", "not in"] | None = None
    left: RefLike | None = None
    right: RefLike | None = None
    all: list[Condition] | None = None
    any: list[Condition] | None = None
    not_: Condition | None = Field(default=None, alias="not")

    @model_validator(mode="after")
    def _one_form(self) -> Condition:
        forms = [self.op is not None, self.all is not None, self.any is not None,
                 self.not_ is not None]
        if sum(forms) != 1:
            raise ValueError("a condition is one of {op, left, right}, {all: [...]}, "
                             "{any: [...]} or {not: {...}}")
        if self.op is not None and (self.left is None or self.right is None):
            raise ValueError(f"comparison {self.op!r} needs both `left` and `right`")
        return self

    def refs(self) -> list[Ref]:
        found: list[Ref] = [r for r in (self.left, self.right) if r is not None]
        for sub in (self.all or []) + (self.any or []) + ([self.not_] if self.not_ else []):
            found.extend(sub.refs())
        return found


class Backoff(FlowModel):
    duration: Duration = 1.0
    factor: float = Field(default=2.0, ge=1.0)
    max_duration: Duration | None = None


class RetryPolicy(FlowModel):
    limit: int = Field(default=0, ge=0, le=100)
    backoff: Backoff | None = None

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number `attempt` (1-based)."""
        if self.backoff is None:
            return 0.0
        delay = self.backoff.duration * (self.backoff.factor ** (attempt - 1))
        if self.backoff.max_duration is not None:
            delay = min(delay, self.backoff.max_duration)
        return float(delay)


class ResourceRequests(FlowModel):
    """Recorded locally, applied as container requests/limits on Kubernetes."""

    cpu: str | None = None
    memory: str | None = None
    gpu: int | None = Field(default=None, ge=0)


class StepVolume(FlowModel):
    """A Volume of the run's profile attached to a step (`task.add_volume(...)`).

    Locally the step finds the volume's folder in `$FLOWYARD_VOLUME_<NAME>` (upper case, '-'
    as '_'); on Kubernetes the claim is mounted at `mountPath`. The run holds the volume for
    writing (or reading, `readOnly`) while such a step is pending or running.
    """

    name: str
    mount_path: str | None = None
    read_only: bool = False

    @field_validator("name")
    @classmethod
    def _volume_name(cls, value: str) -> str:
        if len(value) > 63 or not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", value):
            raise ValueError("a volume name is a DNS-1123 label: lower-case letters, digits "
                             "or '-' (e.g. 'explore-ws')")
        return value

    @field_validator("mount_path")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise ValueError("mountPath must be an absolute path, e.g. /workspace")
        return value


class Step(FlowModel):
    name: str
    component: str
    arguments: dict[str, RefLike] = Field(default_factory=dict)
    after: list[str] = Field(default_factory=list)
    for_each: RefLike | None = None
    parallelism: int | None = Field(default=None, ge=1)
    when: Condition | None = None
    retry: RetryPolicy | None = None
    timeout: Duration | None = None
    cache: bool = True
    resources: ResourceRequests | None = None
    display_name: str | None = None
    outputs_to: dict[str, str] = Field(default_factory=dict)
    """Output artifact name -> `repo@branch:/path` it is committed to on success."""
    trigger: Literal["allSucceeded", "allDone"] = "allSucceeded"
    """`allDone`: run once the steps in `after` finished, whatever their state (kfp's
    ALL_UPSTREAM_TASKS_COMPLETED: the exit task of a `dsl.ExitHandler` group). Steps whose
    outputs it reads must still succeed."""
    volumes: list[StepVolume] = Field(default_factory=list)
    """Volumes the step works in; such a step is not cached unless `cache` is set (its
    effects on the volume are not part of its outputs)."""

    @model_validator(mode="after")
    def _volumes_not_cached(self) -> Step:
        if self.volumes and "cache" not in self.model_fields_set:
            self.cache = False
        return self

    @field_validator("name")
    @classmethod
    def _step_name(cls, value: str) -> str:
        if not STEP_NAME.match(value):
            raise ValueError("a step name is 1-63 letters, digits, '_', '.' or '-', "
                             "starting with a letter or digit")
        return value


class PipelineSpec(FlowModel):
    description: str | None = None
    parameters: list[ParameterSpec] = Field(default_factory=list)
    components: dict[str, Component]
    steps: list[Step]
    on_exit: Step | None = None
    outputs: dict[str, RefLike] = Field(default_factory=dict)
    parallelism: int | None = Field(default=None, ge=1)
    deadline: Duration | None = None
    cache: bool = True

    def parameter(self, name: str) -> ParameterSpec | None:
        return next((p for p in self.parameters if p.name == name), None)

    def all_steps(self) -> list[Step]:
        return [*self.steps, *([self.on_exit] if self.on_exit else [])]


class Pipeline(Resource[PipelineSpec]):
    KIND: ClassVar[str] = "Pipeline"
    kind: str = "Pipeline"
