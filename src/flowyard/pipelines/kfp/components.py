"""kfp executors (deploymentSpec) and component interfaces -> Flowyard `Component`s.

A kfp lightweight Python component is a container whose command writes the module text kfp
embedded to a file and runs `python -m kfp.dsl.executor_main --function_to_execute NAME`.
Flowyard runs that function natively instead: the module text becomes `PythonImpl.source`
without kfp's own imports, so no kfp install is needed in the step.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from flowyard.errors import InvalidInput
from flowyard.resources.pipeline import (
    IDENT,
    ArtifactSpec,
    ArtifactType,
    Component,
    ContainerImpl,
    Interface,
    ParameterSpec,
    ParamType,
    PythonImpl,
)

PARAM_TYPES: dict[str, ParamType] = {
    "STRING": ParamType.STR,
    "NUMBER_INTEGER": ParamType.INT,
    "NUMBER_DOUBLE": ParamType.FLOAT,
    "BOOLEAN": ParamType.BOOL,
    "LIST": ParamType.LIST,
    "STRUCT": ParamType.DICT,
    "TASK_FINAL_STATUS": ParamType.DICT,
}
_ARTIFACT_TYPES = {t.value: t for t in ArtifactType}
FINAL_STATUS = "TASK_FINAL_STATUS"
ENTRY = "_flowyard_kfp_entry"

_KFP_IMPORT = re.compile(r"^(?:import kfp\b.*|from kfp(?:\.[\w.]+)? import .*)$", re.MULTILINE)
_PLACEHOLDER = re.compile(r"\{\{\$(?P<body>[^{}]*)\}\}")
_PARAM = re.compile(r"""^\.inputs\.parameters\[['"](?P<n>[^'"]+)['"]\]$""")
_IN_ART = re.compile(r"""^\.inputs\.artifacts\[['"](?P<n>[^'"]+)['"]\]\.(?P<f>path|uri)$""")
_OUT_ART = re.compile(r"""^\.outputs\.artifacts\[['"](?P<n>[^'"]+)['"]\]\.(?P<f>path|uri)$""")
_OUT_PARAM = re.compile(r"""^\.outputs\.parameters\[['"](?P<n>[^'"]+)['"]\]\.output_file$""")
_PIP_LINE = re.compile(r"pip install (?P<args>[^\n&]*)")

# The status a kfp exit task receives is an object with attributes; Flowyard delivers a
# dict, so the translated source wraps the user's function and converts it.
_STATUS_SHIM = '''

class _FlowyardTaskFinalStatus:
    def __init__(self, status, task):
        state = str(status.get("state", ""))
        self.state = {"Succeeded": "SUCCEEDED", "Failed": "FAILED",
                      "Cancelled": "CANCELLED"}.get(state, state.upper())
        self.pipeline_job_resource_name = str(status.get("run_id", ""))
        self.pipeline_task_name = task
        self.error_code = 0 if self.state == "SUCCEEDED" else 1
        self.error_message = status.get("error") or ""


def ENTRY(**kwargs):
    for name in STATUS_NAMES:
        if isinstance(kwargs.get(name), dict):
            kwargs[name] = _FlowyardTaskFinalStatus(kwargs[name], TASK)
    return FUNCTION(**kwargs)
'''


def _where(task: str) -> str:
    return f"kfp task {task!r}"


def artifact_type(spec: dict[str, Any], task: str, name: str) -> ArtifactType:
    title = str(spec.get("artifactType", {}).get("schemaTitle", "system.Artifact"))
    short = title.split(".", 1)[1] if title.startswith("system.") else title
    found = _ARTIFACT_TYPES.get(short)
    if found is None:
        if title.startswith("system."):
            raise InvalidInput(f"{_where(task)}: artifact {name!r} has type {title!r}, which "
                               "Flowyard does not know",
                               hint="use Artifact, Dataset, Model, Metrics, "
                                    "ClassificationMetrics, HTML or Markdown")
        return ArtifactType.ARTIFACT  # a custom schema (google.VertexModel, ...) is opaque
    return found


def param_type(spec: dict[str, Any], task: str, name: str) -> ParamType:
    kind = str(spec.get("parameterType", "STRING"))
    if kind not in PARAM_TYPES:
        raise InvalidInput(f"{_where(task)}: parameter {name!r} has type {kind!r}, which "
                           "Flowyard does not support",
                           hint="supported: " + ", ".join(PARAM_TYPES))
    return PARAM_TYPES[kind]


def normalize(value: Any, kind: ParamType | None) -> Any:
    """kfp writes every number as a double (`3.0`); give integers back their type."""
    if kind == ParamType.INT and isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [normalize(v, ParamType.INT if _integral(v) else None) for v in value]
    if isinstance(value, dict):
        return {k: normalize(v, ParamType.INT if _integral(v) else None)
                for k, v in value.items()}
    return value


def _integral(value: Any) -> bool:
    return isinstance(value, float) and value.is_integer()


def _check_ident(task: str, name: str) -> None:
    if not IDENT.match(name):
        raise InvalidInput(f"{_where(task)}: input/output name {name!r} is not a Python "
                           "identifier, which Flowyard component interfaces need",
                           hint="rename it to letters, digits and '_'")


def interface(defs: dict[str, Any] | None, task: str) -> tuple[Interface, list[str]]:
    """An Interface from kfp input/outputDefinitions, plus the TASK_FINAL_STATUS names."""
    defs = defs or {}
    params: list[ParameterSpec] = []
    statuses: list[str] = []
    for name, spec in (defs.get("parameters") or {}).items():
        _check_ident(task, name)
        kind = param_type(spec, task, name)
        fields: dict[str, Any] = {"name": name, "type": kind}
        if spec.get("parameterType") == FINAL_STATUS:
            statuses.append(name)
        elif "defaultValue" in spec:
            fields["default"] = normalize(spec["defaultValue"], kind)
        elif spec.get("isOptional"):
            fields["default"] = None
        params.append(ParameterSpec(**fields))
    arts: list[ArtifactSpec] = []
    for name, spec in (defs.get("artifacts") or {}).items():
        _check_ident(task, name)
        arts.append(ArtifactSpec(name=name, type=artifact_type(spec, task, name)))
    return Interface(parameters=params, artifacts=arts), statuses


def translate_component(comp: dict[str, Any], executor: dict[str, Any],
                        task: str) -> Component:
    """The Flowyard Component for one kfp component and its executor."""
    if "importer" in executor:
        raise InvalidInput(f"{_where(task)}: dsl.importer nodes are not supported locally",
                           hint="pass the data as a pipeline parameter, or produce it with a "
                                "component that writes the artifact")
    if "resolver" in executor or "container" not in executor:
        kinds = ", ".join(sorted(executor)) or "nothing"
        raise InvalidInput(f"{_where(task)}: executor kind {kinds} is not supported",
                           hint="only container executors (Python and container components) "
                                "run locally")
    inputs, statuses = interface(comp.get("inputDefinitions"), task)
    outputs, _ = interface(comp.get("outputDefinitions"), task)
    container = executor["container"]
    python = _python_impl(container, task, statuses)
    if python is not None:
        return Component(inputs=inputs, outputs=outputs, python=python)
    if statuses:
        raise InvalidInput(f"{_where(task)}: a container component cannot take "
                           "dsl.PipelineTaskFinalStatus",
                           hint="make the exit task a Python component")
    return Component(inputs=inputs, outputs=outputs,
                     container=_container_impl(container, task))


def _python_impl(container: dict[str, Any], task: str,
                 statuses: list[str]) -> PythonImpl | None:
    args = [str(a) for a in container.get("args") or []]
    command = [str(c) for c in container.get("command") or []]
    if "--function_to_execute" not in args:
        return None
    at = args.index("--function_to_execute")
    if at + 1 >= len(args):
        raise InvalidInput(f"{_where(task)}: --function_to_execute has no function name")
    function = args[at + 1]
    marker = next((i for i, c in enumerate(command) if "kfp.dsl.executor_main" in c), None)
    if marker is None or marker + 1 >= len(command) or "ephemeral_component" not in (
            command[marker]):
        raise InvalidInput(
            f"{_where(task)}: a containerized Python component (function {function!r}) keeps "
            f"its code in the image {container.get('image')!r}, which Flowyard cannot run "
            "locally",
            hint="compile it as a lightweight component (@dsl.component without target_image)")
    module = command[marker + 1]
    if f"def {function}(" not in module:
        raise InvalidInput(f"{_where(task)}: the embedded source defines no function "
                           f"{function!r}")
    source = _KFP_IMPORT.sub("", module).strip("\n") + "\n"
    if statuses:
        source += (_STATUS_SHIM.replace("ENTRY", ENTRY)
                   .replace("STATUS_NAMES", repr(statuses)).replace("TASK", repr(task))
                   .replace("FUNCTION", function))
        function = ENTRY
    return PythonImpl(function=function, source=source, packages=_packages(command))


def _packages(command: list[str]) -> list[str]:
    found: list[str] = []
    for part in command:
        for match in _PIP_LINE.finditer(part):
            try:
                words = shlex.split(match.group("args"))
            except ValueError:
                continue
            for word in words:
                if word.startswith("-") or word.startswith("kfp==") or ";" in word:
                    continue
                if word not in found:
                    found.append(word)
    return found


def _container_impl(container: dict[str, Any], task: str) -> ContainerImpl:
    def convert(text: str) -> str:
        if text.lstrip().startswith("{") and any(k in text for k in (
                '"IfPresent"', '"Concat"', "'IfPresent'", "'Concat'")):
            raise InvalidInput(f"{_where(task)}: the IfPresent/Concat placeholder {text!r} is "
                               "not supported",
                               hint="pass every input explicitly")
        return _PLACEHOLDER.sub(lambda m: _placeholder(m.group("body"), task), text)

    env = {str(e["name"]): str(e.get("value", "")) for e in container.get("env") or []}
    return ContainerImpl(image=str(container.get("image", "")),
                         command=[convert(str(c)) for c in container.get("command") or []],
                         args=[convert(str(a)) for a in container.get("args") or []],
                         env=env)


def _placeholder(body: str, task: str) -> str:
    body = body.strip()
    if match := _PARAM.match(body):
        return f"{{{{inputs.parameters.{match['n']}}}}}"
    if match := _IN_ART.match(body):
        return f"{{{{inputs.artifacts.{match['n']}.path}}}}"
    if match := _OUT_ART.match(body):
        return f"{{{{outputs.artifacts.{match['n']}.path}}}}"
    if match := _OUT_PARAM.match(body):
        return f"{{{{outputs.parameters.{match['n']}.path}}}}"
    raise InvalidInput(f"{_where(task)}: the kfp placeholder '{{{{${body}}}}}' is not "
                       "supported locally",
                       hint="supported: inputs.parameters[..], inputs.artifacts[..].path, "
                            "outputs.artifacts[..].path, outputs.parameters[..].output_file")
