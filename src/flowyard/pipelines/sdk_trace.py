"""The recording made while a @dsl.pipeline function runs: tasks, scopes, if-chains.

Errors are raised where the user wrote the mistake (the call, the `with` line), because
that is the line they need to fix; the compiler only translates a finished trace.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from flowyard.errors import InvalidInput
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
from flowyard.pipelines.sdk_scopes import Branch, ExitScope, Loop, Scope
from flowyard.pipelines.sdk_task import ComponentLike, Task
from flowyard.pipelines.sdk_types import PipelineTaskFinalStatus, Port, a_type, literal_matches


class Trace:
    """Everything recorded while one pipeline function runs."""

    def __init__(self, pipeline: str) -> None:
        self.pipeline = pipeline
        self.tasks: list[Task] = []
        self.stack: list[Scope] = []
        self.exits: list[ExitScope] = []
        """Every `with dsl.ExitHandler(task):` block, in order."""
        self._chains: list[list[Cond] | None] = [None]
        self._names: set[str] = set()
        self._next: dict[str, int] = {}  # base name -> next suffix to try (keeps naming O(n))
        self._component_names: dict[int, str] = {}
        self.components: list[tuple[str, ComponentLike]] = []

    # -- scopes -------------------------------------------------------------------------
    def sibling(self, label: str, site: str) -> list[Cond]:
        """Note a new statement at the current level; Elif/Else get the chain they continue."""
        if label in ("Elif", "Else"):
            prior = self._chains[-1]
            if not prior:
                raise InvalidInput(f"{site}: dsl.{label} must directly follow a `with dsl.If` "
                                   "or `with dsl.Elif` block at the same level")
            return prior
        self._chains[-1] = None
        return []

    def push(self, scope: Scope) -> None:
        self.stack.append(scope)
        self._chains.append(None)

    def pop(self, scope: Scope) -> None:
        if not self.stack or self.stack[-1] is not scope:
            raise InvalidInput(f"{scope.site}: control blocks must be exited in the order "
                               "they were entered")
        self.stack.pop()
        self._chains.pop()
        if isinstance(scope, Branch):
            prior = self._chains[-1] or []
            self._chains[-1] = None if scope.own is None else [*prior, scope.own]

    # -- tasks --------------------------------------------------------------------------
    def component_name(self, component: ComponentLike) -> str:
        key = id(component)
        if key not in self._component_names:
            taken = set(self._component_names.values())
            name = _unique(component.name, taken)
            self._component_names[key] = name
            self.components.append((name, component))
        return self._component_names[key]

    def add_task(self, component: ComponentLike, kwargs: dict[str, Any], site: str) -> Task:
        self.sibling("task", site)
        base = self.component_name(component)
        name = _unique(base, self._names, self._next.get(base, 1))
        self._next[base] = int(name.rpartition("-")[2]) if name != base else 1
        self._names.add(name)
        task = Task(self, component, name, {}, tuple(self.stack), site)
        task.arguments = self._bind(task, kwargs)
        self.tasks.append(task)
        return task

    def _bind(self, task: Task, kwargs: dict[str, Any]) -> dict[str, Any]:
        comp = task.component
        inputs = {p.name: p for p in comp.inputs}
        outputs = {p.name for p in comp.outputs}
        where = f"{task.site}: component {comp.func_name!r}"
        bound: dict[str, Any] = {}
        for key, value in kwargs.items():
            if isinstance(value, PipelineTaskFinalStatus):
                value = RunStatus()
            if isinstance(value, Task):
                raise InvalidInput(f"{where}, argument {key!r}: got the task {value.name!r} "
                                   "itself; pass one of its outputs",
                                   hint=f"write {key}=<task>.output or "
                                        f"{key}=<task>.outputs['<name>']")
            if key not in inputs:
                what = "an output (Output[...]/OutputPath); the step writes it, do not pass it" \
                    if key in outputs else "not one of its inputs"
                valid = ", ".join(inputs) or "none"
                raise InvalidInput(f"{where} got argument {key!r}, which is {what}; "
                                   f"its inputs: {valid}")
            self.check_value(value, inputs[key], task.scopes, f"{where}, argument {key!r}")
            bound[key] = value
        for port in comp.inputs:
            if port.name in bound:
                continue
            if port.kind == "status":
                bound[port.name] = RunStatus()
            elif not port.has_default:
                raise InvalidInput(f"{where} is missing the required argument {port.name!r} "
                                   f"({port.type})")
        return bound

    def check_value(self, value: Any, port: Port | None, scopes: tuple[Scope, ...],
                    where: str) -> None:
        """Check one argument (or condition operand) against the loop and type rules."""
        loops = [s for s in scopes if isinstance(s, Loop)]
        if isinstance(value, TaskOutput):
            self._check_output(value, loops, where)
            if port is not None and port.kind == "artifact" and not value.is_artifact:
                raise InvalidInput(f"{where}: {value.describe()} is a parameter, but the input "
                                   f"is an artifact ({port.type})")
            if port is not None and port.kind != "artifact" and value.is_artifact:
                raise InvalidInput(f"{where}: {value.describe()} is an artifact, but the input "
                                   f"is a parameter ({port.type}); declare it Input[...]")
            if not value.is_artifact:
                _check_type(value, value.type, port, where)
        elif isinstance(value, CollectedOutput):
            self._check_collected(value, loops, where)
            if not value.output.is_artifact:
                _check_type(value, "list", port, where)
        elif isinstance(value, ParameterRef):
            if port is not None and port.kind == "artifact":
                raise InvalidInput(f"{where}: {value.describe()} is a parameter, but the input "
                                   f"is an artifact ({port.type})")
            _check_type(value, value.type, port, where)
        elif isinstance(value, DataInput):
            if port is not None and port.kind != "artifact":
                raise InvalidInput(f"{where}: {value.describe()} is an artifact, but the input "
                                   f"is a parameter ({port.type})",
                                   hint="declare the input Input[Dataset] (or another artifact)")
        elif isinstance(value, LoopItem):
            if all(value.loop is not loop for loop in loops):
                raise InvalidInput(f"{where}: {value.describe()} is used outside that loop")
        elif isinstance(value, Placeholder):
            pass  # parameters (and the run status, checked by the compiler)
        elif isinstance(value, Cond):
            raise InvalidInput(f"{where}: a condition is not a value; use it in dsl.If(...)")
        else:
            if _contains_placeholder(value):
                raise InvalidInput(f"{where}: a list or dict literal cannot hold pipeline values "
                                   f"(got {value!r})",
                                   hint="collect a loop's outputs with dsl.Collected(...), or "
                                        "pass each value as its own argument")
            if port is not None and port.kind == "artifact":
                raise InvalidInput(f"{where}: an artifact input ({port.type}) needs an artifact "
                                   f"output of another task, got the literal {value!r}")
            if port is not None and port.kind == "param" and not literal_matches(port.type, value):
                raise InvalidInput(f"{where}: expected {a_type(port.type)}, got {value!r} "
                                   f"({type(value).__name__})")

    def _check_output(self, value: TaskOutput, loops: list[Loop], where: str) -> None:
        producer = value.task
        for scope in self.exits:
            if producer is scope.task and scope in self.stack:
                raise InvalidInput(f"{where}: {value.describe()} comes from the exit task of "
                                   f"the dsl.ExitHandler at {scope.site}, which runs after "
                                   "every task inside that block")
        loop = producer.loop
        if loop is not None and all(loop is not mine for mine in loops):
            raise InvalidInput(
                f"{where}: {value.describe()} is produced inside the dsl.ParallelFor at "
                f"{loop.site} and used outside it",
                hint="wrap it in dsl.Collected(...) to get the list of every iteration's "
                     f"value of task {producer.name!r}",
            )

    def _check_collected(self, value: CollectedOutput, loops: list[Loop], where: str) -> None:
        loop = value.output.task.loop
        if loop is None:
            raise InvalidInput(f"{where}: {value.describe()}: task {value.output.task.name!r} is "
                               "not inside a dsl.ParallelFor, so there is nothing to collect",
                               hint="pass the output directly")
        if any(loop is mine for mine in loops):
            raise InvalidInput(
                f"{where}: {value.describe()} is used inside the same dsl.ParallelFor (at "
                f"{loop.site}) that produces it; collected values exist only after the loop",
                hint="use the output directly inside the loop (iteration-wise), or move the "
                     "consumer after the `with dsl.ParallelFor` block",
            )


def _check_type(value: Placeholder, source: str, port: Port | None, where: str) -> None:
    # The engine's rule: equal types, or an int into a float.
    if port is None or port.kind != "param" or source == port.type:
        return
    if source == "int" and port.type == "float":
        return
    raise InvalidInput(f"{where}: {value.describe()} is {a_type(source)}, but the input takes "
                       f"{a_type(port.type)}",
                       hint="give both sides the same type (an int also fits a float)")


def _unique(base: str, taken: set[str], start: int = 1) -> str:
    n = start
    name = base if n == 1 else f"{base}-{n}"
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    return name


def _contains_placeholder(value: Any) -> bool:
    if isinstance(value, Placeholder | Cond):
        return True
    if isinstance(value, list | tuple):
        return any(_contains_placeholder(v) for v in value)
    if isinstance(value, dict):
        return any(_contains_placeholder(v) for v in value.values())
    return False


_CURRENT: ContextVar[Trace | None] = ContextVar("flowyard_trace", default=None)


def current() -> Trace | None:
    return _CURRENT.get()


def activate(trace: Trace) -> Any:
    return _CURRENT.set(trace)


def deactivate(token: Any) -> None:
    _CURRENT.reset(token)
