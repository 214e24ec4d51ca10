"""Control blocks of a pipeline function: ParallelFor, If/Elif/Else, ExitHandler, Collected.

Each is a context manager that pushes a scope on the active trace; every task created in
the block carries the scope, which the compiler turns into `forEach`, `when` or `onExit`.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from flowyard.errors import InvalidInput
from flowyard.pipelines.sdk_placeholders import (
    CollectedOutput,
    Cond,
    LoopItem,
    ParameterRef,
    TaskOutput,
    user_site,
)
from flowyard.pipelines.sdk_scopes import Branch, ExitScope, Loop
from flowyard.pipelines.sdk_task import Task
from flowyard.pipelines.sdk_trace import Trace, current
from flowyard.pipelines.sdk_types import a_type


def _trace(what: str, site: str) -> Trace:
    trace = current()
    if trace is None:
        raise InvalidInput(f"{site}: dsl.{what} is only usable inside a @dsl.pipeline function "
                           "(while it is compiled)")
    return trace


class ParallelFor:
    """`with dsl.ParallelFor(items, parallelism=2) as item:` runs the block once per item.

    items: a list literal, a list pipeline parameter, or a list output of an earlier task.
    """

    def __init__(self, items: Any, parallelism: int | None = None, name: str | None = None
                 ) -> None:
        self.items = items
        self.parallelism = parallelism or None
        self.name = name
        self._loop: Loop | None = None
        self._trace: Trace | None = None

    def __enter__(self) -> Any:
        site = user_site()
        trace = _trace("ParallelFor", site)
        outer = next((s for s in trace.stack if isinstance(s, Loop)), None)
        if outer is not None:
            raise InvalidInput(
                f"{site}: dsl.ParallelFor inside the dsl.ParallelFor at {outer.site} is not "
                "supported (a step loops over one list)",
                hint="build the combinations in a component that returns a list of dicts, "
                     "loop over it once and use item['key']",
            )
        if isinstance(self.items, TaskOutput) and self.items.is_artifact:
            raise InvalidInput(f"{site}: dsl.ParallelFor loops over a list parameter; "
                               f"{self.items.describe()} is an artifact")
        if isinstance(self.items, TaskOutput | ParameterRef) and self.items.type != "list":
            raise InvalidInput(f"{site}: dsl.ParallelFor needs a list; {self.items.describe()} "
                               f"is {a_type(self.items.type)}",
                               hint="annotate it as `list` (or list[...])")
        if isinstance(self.items, dict | str | int | float | bool) or self.items is None:
            raise InvalidInput(f"{site}: dsl.ParallelFor needs a list (literal, list parameter "
                               f"or list output), got {self.items!r}")
        if isinstance(self.items, tuple):
            self.items = list(self.items)
        if self.parallelism is not None and (
                not isinstance(self.parallelism, int) or self.parallelism < 1):
            raise InvalidInput(f"{site}: dsl.ParallelFor(parallelism=...) must be an int >= 1, "
                               f"got {self.parallelism!r}")
        trace.check_value(self.items, None, tuple(trace.stack), f"{site}: dsl.ParallelFor items")
        trace.sibling("loop", site)
        self._loop = Loop(self.items, self.parallelism, site)
        self._trace = trace
        trace.push(self._loop)
        return LoopItem(self._loop)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._trace is not None and self._loop is not None and exc is None:
            self._trace.pop(self._loop)


class If:
    """`with dsl.If(task.output == "x"):` guards every task of the block."""

    label = "If"

    def __init__(self, condition: Any = None, name: str | None = None) -> None:
        self.condition = condition
        self.name = name
        self._scope: Branch | None = None
        self._trace: Trace | None = None

    def _effective(self, trace: Trace, site: str) -> tuple[Cond, Cond | None]:
        trace.sibling("If", site)
        own = self._own(trace, site)
        return own, own

    def _own(self, trace: Trace, site: str) -> Cond:
        cond = self.condition
        if not isinstance(cond, Cond):
            raise InvalidInput(
                f"{site}: dsl.{self.label} needs a comparison of pipeline values such as "
                f"`task.output == 'x'` or `param > 3`, got {cond!r}",
                hint="a comparison of two literals or a plain value is decided in Python; "
                     "use a normal `if` for that",
            )
        for leaf in _leaves(cond):
            trace.check_value(leaf, None, tuple(trace.stack), f"{site}: dsl.{self.label}")
        return cond

    def __enter__(self) -> None:
        site = user_site()
        trace = _trace(self.label, site)
        cond, own = self._effective(trace, site)
        self._scope = Branch(self.label, cond, own, site)
        self._trace = trace
        trace.push(self._scope)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._trace is not None and self._scope is not None and exc is None:
            self._trace.pop(self._scope)


class Elif(If):
    """`with dsl.Elif(cond):` right after an If/Elif block: runs when none before did."""

    label = "Elif"

    def _effective(self, trace: Trace, site: str) -> tuple[Cond, Cond | None]:
        prior = trace.sibling("Elif", site)
        own = self._own(trace, site)
        return Cond("all", (*[Cond("not", (c,)) for c in prior], own)), own


class Else(If):
    """`with dsl.Else():` right after an If/Elif block: runs when none of them did."""

    label = "Else"

    def __init__(self, name: str | None = None) -> None:
        super().__init__(None, name)

    def _effective(self, trace: Trace, site: str) -> tuple[Cond, Cond | None]:
        prior = trace.sibling("Else", site)
        return Cond("all", tuple(Cond("not", (c,)) for c in prior)), None


class ExitHandler:
    """`with dsl.ExitHandler(exit_task):` exit_task runs after the tasks inside the block,
    whatever happened to them, and gets their combined status (dsl.PipelineTaskFinalStatus).
    Tasks outside the block run independently of it, or after the exit task."""

    def __init__(self, exit_task: Task, name: str | None = None) -> None:
        self.exit_task = exit_task
        self.name = name
        self._scope: ExitScope | None = None
        self._trace: Trace | None = None

    def __enter__(self) -> None:
        site = user_site()
        trace = _trace("ExitHandler", site)
        task = self.exit_task
        if not isinstance(task, Task) or task.trace is not trace:
            raise InvalidInput(f"{site}: dsl.ExitHandler takes a task created earlier in this "
                               f"pipeline function, got {task!r}")
        for other_exit in trace.exits:
            if other_exit.task is task:
                raise InvalidInput(f"{site}: task {task.name!r} is already the exit task of "
                                   f"the dsl.ExitHandler at {other_exit.site}")
        if trace.stack or task.scopes:
            raise InvalidInput(f"{site}: dsl.ExitHandler and its exit task "
                               f"{task.name!r} must be at the top level of the pipeline "
                               "function, not inside another block")
        trace.sibling("exit", site)
        self._scope = ExitScope(task, site)
        trace.exits.append(self._scope)
        self._trace = trace
        trace.push(self._scope)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._trace is not None and self._scope is not None and exc is None:
            self._trace.pop(self._scope)


def Collected(output: Any) -> Any:
    """`dsl.Collected(task.output)` after a ParallelFor: the list of every iteration's value."""
    if isinstance(output, Task):
        output = output.output
    if not isinstance(output, TaskOutput):
        raise InvalidInput(f"{user_site()}: dsl.Collected takes an output of a task inside a "
                           f"dsl.ParallelFor (task.output or task.outputs['name']), "
                           f"got {output!r}")
    return CollectedOutput(output, user_site())


def _leaves(cond: Cond) -> list[Any]:
    if cond.op in ("all", "any", "not"):
        return [leaf for part in cond.parts for leaf in _leaves(part)]
    return list(cond.parts)
