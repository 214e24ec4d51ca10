"""Turn a traced @dsl.pipeline into the `Pipeline` resource the engine runs.

The compiler builds plain camelCase data (what the YAML form holds) and validates it with
the resource model, so an SDK pipeline and a hand-written YAML one go through the same gate.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from flowyard.errors import InvalidInput, PipelineInvalid, Problem
from flowyard.pipelines.sdk_components import BaseComponent, ContainerComponent, PythonComponent
from flowyard.pipelines.sdk_pipeline import PipelineDef, Traced, pipeline, trace_pipeline
from flowyard.pipelines.sdk_placeholders import (
    CollectedOutput,
    Cond,
    DataInput,
    LoopItem,
    ParameterRef,
    Placeholder,
    RunStatus,
    TaskOutput,
)
from flowyard.pipelines.sdk_scopes import Branch, ExitScope
from flowyard.pipelines.sdk_task import Task
from flowyard.pipelines.sdk_types import Port
from flowyard.resources.origins import remember_origin
from flowyard.resources.pipeline import Pipeline, PythonImpl

if TYPE_CHECKING:
    from flowyard.resources.origins import Origin


def compile_pipeline(func: PipelineDef | Callable[..., Any],
                     parameters: Mapping[str, Any] | None = None) -> Pipeline:
    """Compile a @dsl.pipeline (or a plain pipeline function) to a Pipeline resource.

    parameters: new defaults for pipeline parameters (unknown names are errors).
    """
    definition = func if isinstance(func, PipelineDef) else pipeline(func)
    traced = trace_pipeline(definition, parameters)
    resource = validate(to_data(traced), definition.site)
    # The graph checks run later (validate, run, the engine's submit); they name the line
    # of the call that wired each field through this map.
    remember_origin(resource, source_origin(traced))
    return resource


def _split_site(site: str) -> tuple[str, int] | None:
    """"path/file.py:12" -> ("path/file.py", 12); None for "<unknown>"."""
    file, _, line = site.rpartition(":")
    return (file, int(line)) if file and line.isdigit() else None


def source_origin(traced: Traced) -> Origin | None:
    """Field path -> file:line of the Python that wrote it: each step at its component call,
    its `after` entries at their `.after()` call, `forEach` at the dsl.ParallelFor, `when`
    at the innermost dsl.If/Elif/Else, components at their definition, parameters and the
    rest of the spec at the `@dsl.pipeline` function."""
    from flowyard.resources.origins import Origin

    definition, trace = traced.pipeline, traced.trace
    top = _split_site(definition.site)
    if top is None:
        return None
    lines: dict[tuple[str | int, ...], int] = {}
    files: dict[tuple[str | int, ...], str] = {}

    def put(path: tuple[str | int, ...], site: str) -> None:
        where = _split_site(site)
        if where is None:
            return
        lines[path] = where[1]
        if where[0] != top[0]:
            files[path] = where[0]

    exits = _Exits(trace.tasks, trace.exits)
    placed = [t for t in trace.tasks if t is not exits.run_level]
    steps: list[tuple[tuple[str | int, ...], Task]] = [
        (("spec", "steps", i), t) for i, t in enumerate(placed)]
    if exits.run_level is not None:
        steps.append((("spec", "onExit"), exits.run_level))
    for path, task in steps:
        put(path, task.site)
        for index, site in enumerate(task.after_sites):
            put((*path, "after", index), site)
        loop = task.loop
        if loop is not None:
            put((*path, "forEach"), loop.site)
        branches = [s for s in task.scopes if isinstance(s, Branch)]
        if branches:
            put((*path, "when"), branches[-1].site)
    for name, comp in trace.components:
        put(("spec", "components", name), getattr(comp, "site", ""))
    for index, _port in enumerate(traced.parameters):
        put(("spec", "parameters", index), definition.site)
    return Origin(file=top[0], line=top[1], lines=lines, files=files)


class _Exits:
    """The pipeline's dsl.ExitHandler blocks: which tasks each one guards.

    One block around every other task is the run's exit handler (`spec.onExit`: it also runs
    after a cancel or the deadline, and gets the run's status). Otherwise each exit task is a
    step with `trigger: allDone` after the tasks of its block, with the block's status, and
    tasks outside the block may run after it (kfp's scoping of ExitHandler).
    """

    def __init__(self, tasks: list[Task], scopes: list[ExitScope]) -> None:
        self.scope_of = {id(s.task): s for s in scopes}
        self.groups = {id(s): [t for t in tasks if any(x is s for x in t.scopes)]
                       for s in scopes}
        for scope in scopes:
            if not self.groups[id(scope)]:
                raise InvalidInput(f"{scope.site}: the dsl.ExitHandler block has no tasks",
                                   hint="create the tasks it guards inside the `with` block")
        self.run_level: Task | None = None
        if len(scopes) == 1 and len(self.groups[id(scopes[0])]) == len(tasks) - 1:
            self.run_level = scopes[0].task

    def scope(self, task: Task) -> ExitScope | None:
        return self.scope_of.get(id(task))

    def check_use(self, user: Task, producer: Task, what: str) -> None:
        """`user` reads from or runs after `producer`; not from inside producer's block."""
        scope = self.scope(producer)
        if scope is None or user is producer:
            return
        if any(s is scope for s in user.scopes) or producer is self.run_level:
            raise InvalidInput(f"{user.site}: task {user.name!r} {what} the exit task "
                               f"{producer.name!r}, which runs after every task inside its "
                               f"dsl.ExitHandler block ({scope.site})",
                               hint="move the task out of the `with dsl.ExitHandler` block")


def to_data(traced: Traced) -> dict[str, Any]:
    """The resource as plain data (the YAML shape), before validation."""
    definition, trace = traced.pipeline, traced.trace
    exits = _Exits(trace.tasks, trace.exits)
    exit_task = exits.run_level
    components: dict[str, Any] = {}
    for name, comp in trace.components:
        assert isinstance(comp, BaseComponent)
        components[name] = _component(comp)
    steps = [_step(task, exits) for task in trace.tasks if task is not exit_task]
    spec: dict[str, Any] = {}
    if definition.description:
        spec["description"] = definition.description
    if traced.parameters:
        spec["parameters"] = [_parameter(p) for p in traced.parameters]
    spec["components"] = components
    spec["steps"] = steps
    if exit_task is not None:
        spec["onExit"] = _step(exit_task, exits)
    outputs = _outputs(traced.returned, definition)
    if outputs:
        spec["outputs"] = outputs
    if definition.parallelism is not None:
        spec["parallelism"] = definition.parallelism
    if definition.deadline is not None:
        spec["deadline"] = definition.deadline
    return {"apiVersion": "flowyard.dev/v1alpha1", "kind": "Pipeline",
            "metadata": {"name": definition.name}, "spec": spec}


def validate(data: dict[str, Any], site: str) -> Pipeline:
    try:
        return Pipeline.model_validate(data)
    except ValidationError as exc:
        problems = [Problem(message=err["msg"], field=".".join(str(p) for p in err["loc"]),
                            file=site, value=err.get("input"))
                    for err in exc.errors()]
        raise PipelineInvalid(problems) from exc


def _parameter(port: Port) -> dict[str, Any]:
    out: dict[str, Any] = {"name": port.name, "type": port.type}
    if port.has_default:
        out["default"] = port.default
    return out


def _interface(ports: list[Port]) -> dict[str, Any]:
    params = [_parameter(p) for p in ports if p.kind in ("param", "status")]
    artifacts = [{"name": p.name, "type": p.type} for p in ports if p.kind == "artifact"]
    out: dict[str, Any] = {}
    if params:
        out["parameters"] = params
    if artifacts:
        out["artifacts"] = artifacts
    return out


def _component(comp: BaseComponent) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if comp.description:
        out["description"] = comp.description
    for key, ports in (("inputs", comp.inputs), ("outputs", comp.outputs)):
        interface = _interface(ports)
        if interface:
            out[key] = interface
    if isinstance(comp, PythonComponent):
        python: dict[str, Any] = {"function": comp.func_name, "source": comp.source}
        if comp.packages:
            python["packages"] = comp.packages
        if comp.base_image and "base_image" in PythonImpl.model_fields:
            python["baseImage"] = comp.base_image
        out["python"] = python
    elif isinstance(comp, ContainerComponent):
        container: dict[str, Any] = {"image": comp.spec.image}
        for key in ("command", "args", "env"):
            if getattr(comp.spec, key):
                container[key] = getattr(comp.spec, key)
        out["container"] = container
    return out


def _step(task: Task, exits: _Exits) -> dict[str, Any]:
    step: dict[str, Any] = {"name": task.name, "component": task.trace.component_name(
        task.component)}
    if task.arguments:
        step["arguments"] = {k: _ref(v, task, exits) for k, v in task.arguments.items()}
    after = [t.name for t in task.depends_on]
    for other in task.depends_on:
        exits.check_use(task, other, "runs after")
    scope = exits.scope(task)
    if scope is not None and task is not exits.run_level:
        step["trigger"] = "allDone"
        after.extend(t.name for t in exits.groups[id(scope)] if t.name not in after)
    if after:
        step["after"] = after
    loop = task.loop
    if loop is not None:
        step["forEach"] = _ref(loop.items, task, exits)
        if loop.parallelism is not None:
            step["parallelism"] = loop.parallelism
    conds = [s.cond for s in task.scopes if isinstance(s, Branch)]
    if conds:
        step["when"] = _when(conds, task, exits)
    opts = task.options
    if opts.retry is not None:
        step["retry"] = opts.retry
    if opts.timeout is not None:
        step["timeout"] = opts.timeout
    cache = opts.cache if opts.cache is not None else task.component.cache
    if not cache:
        step["cache"] = False
    if opts.resources:
        step["resources"] = dict(opts.resources)
    if opts.display_name is not None:
        step["displayName"] = opts.display_name
    if opts.outputs_to:
        step["outputsTo"] = dict(opts.outputs_to)
    if opts.volumes:
        step["volumes"] = [dict(v) for v in opts.volumes]
    return step


def _ref(value: Any, task: Task, exits: _Exits) -> dict[str, Any]:
    if isinstance(value, ParameterRef):
        return {"parameter": value.name}
    if isinstance(value, TaskOutput):
        exits.check_use(task, value.task, f"uses {value.describe()} of")
        return {"step": value.task.name, "output": value.name}
    if isinstance(value, CollectedOutput):
        return {"step": value.output.task.name, "output": value.output.name, "collect": True}
    if isinstance(value, LoopItem):
        return {"item": True if value.key is None else value.key}
    if isinstance(value, DataInput):
        return {"data": value.ref}
    if isinstance(value, RunStatus):
        if exits.scope(task) is None:
            raise InvalidInput(f"{task.site}: task {task.name!r} gets "
                               "dsl.PipelineTaskFinalStatus(), which only the exit task of a "
                               "dsl.ExitHandler can receive",
                               hint="pass the task to `with dsl.ExitHandler(task):`")
        return {"runStatus": True} if task is exits.run_level else {"groupStatus": True}
    if isinstance(value, Placeholder):
        raise InvalidInput(f"{task.site}: {value.describe()} cannot be an argument")
    return {"value": list(value) if isinstance(value, tuple) else value}


def _cond(cond: Cond, task: Task, exits: _Exits) -> dict[str, Any]:
    if cond.op in ("all", "any"):
        return {cond.op: [_cond(c, task, exits) for c in cond.parts]}
    if cond.op == "not":
        return {"not": _cond(cond.parts[0], task, exits)}
    left, right = cond.parts
    return {"op": cond.op, "left": _ref(left, task, exits),
            "right": _ref(right, task, exits)}


def _when(conds: list[Cond], task: Task, exits: _Exits) -> dict[str, Any]:
    if len(conds) == 1:
        return _cond(conds[0], task, exits)
    # Nested blocks: one flat `all` of every block's conjuncts.
    parts: list[Cond] = []
    for cond in conds:
        parts.extend(cond.parts if cond.op == "all" else (cond,))
    return {"all": [_cond(c, task, exits) for c in parts]}


def _outputs(returned: Any, definition: PipelineDef) -> dict[str, Any]:
    if returned is None:
        return {}
    if isinstance(returned, Task):
        returned = returned.output
    if hasattr(returned, "_asdict"):
        items: dict[str, Any] = dict(returned._asdict())
    elif isinstance(returned, dict):
        items = dict(returned)
    else:
        items = {"Output": returned}
    out: dict[str, Any] = {}
    for name, value in items.items():
        if isinstance(value, Task):
            value = value.output
        if not isinstance(value, TaskOutput | CollectedOutput | ParameterRef):
            raise InvalidInput(f"{definition.site}: pipeline {definition.func_name!r} returns "
                               f"{value!r} as output {name!r}; a pipeline returns task outputs "
                               "(task.output), a NamedTuple or dict of them, or None")
        if isinstance(value, TaskOutput) and value.task.loop is not None:
            raise InvalidInput(f"{definition.site}: pipeline {definition.func_name!r} returns "
                               f"{value.describe()}, which is produced inside a "
                               "dsl.ParallelFor", hint="return dsl.Collected(...) of it")
        if isinstance(value, ParameterRef):
            out[name] = {"parameter": value.name}
        elif isinstance(value, CollectedOutput):
            out[name] = {"step": value.output.task.name, "output": value.output.name,
                         "collect": True}
        else:
            out[name] = {"step": value.task.name, "output": value.name}
    return out
