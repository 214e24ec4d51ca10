"""Values known only when a run executes: what a traced pipeline function handles.

A @dsl.pipeline function runs once at compile time with placeholders for its parameters
and task outputs. Comparisons on placeholders build conditions for dsl.If; anything that
would need the real value (bool(), int(), +, f-strings) is an error naming the line, so
that a mistake like `if task.output > 3:` is caught at compile time, not silently taken.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any, NoReturn

from flowyard.errors import InvalidInput

if TYPE_CHECKING:
    from flowyard.pipelines.sdk_scopes import Loop
    from flowyard.pipelines.sdk_task import Task

_SDK_DIR = os.path.dirname(os.path.abspath(__file__))
_DSL_FILE = os.path.join(os.path.dirname(_SDK_DIR), "dsl.py")


def user_site() -> str:
    """file:line of the innermost caller outside the SDK (the user's pipeline code)."""
    frame = sys._getframe(1)
    while frame is not None:
        file = os.path.abspath(frame.f_code.co_filename)
        if os.path.dirname(file) != _SDK_DIR and file != _DSL_FILE:
            return f"{frame.f_code.co_filename}:{frame.f_lineno}"
        frame = frame.f_back  # type: ignore[assignment]
    return "<unknown>"


class Placeholder:
    """Base of every traced value; see the module docstring."""

    def describe(self) -> str:
        raise NotImplementedError

    def _misuse(self, what: str) -> NoReturn:
        raise InvalidInput(
            f"{user_site()}: {self.describe()} is only known when the run executes; it cannot "
            f"be {what} while the pipeline function is traced",
            hint="pass it as an argument to a component and compute there, or compare it "
                 "inside `with dsl.If(value == ...)`",
        )

    # Comparisons build conditions (the kfp v2 way of writing dsl.If conditions).
    def __eq__(self, other: object) -> Cond:  # type: ignore[override]
        return Cond("==", (self, other))

    def __ne__(self, other: object) -> Cond:  # type: ignore[override]
        return Cond("!=", (self, other))

    def __lt__(self, other: object) -> Cond:
        return Cond("<", (self, other))

    def __le__(self, other: object) -> Cond:
        return Cond("<=", (self, other))

    def __gt__(self, other: object) -> Cond:
        return Cond(">", (self, other))

    def __ge__(self, other: object) -> Cond:
        return Cond(">=", (self, other))

    def __hash__(self) -> int:
        return id(self)

    def __bool__(self) -> bool:
        self._misuse("used as a bool (`if`, `and`, `or`, `not`)")

    def __int__(self) -> int:
        self._misuse("converted with int()")

    def __float__(self) -> float:
        self._misuse("converted with float()")

    def __index__(self) -> int:
        self._misuse("used as an int index")

    def __len__(self) -> int:
        self._misuse("measured with len()")

    def __iter__(self) -> NoReturn:
        self._misuse("iterated over (use dsl.ParallelFor to loop over a list)")

    def __contains__(self, item: object) -> bool:
        self._misuse("searched with `in`")

    def __format__(self, spec: str) -> str:
        self._misuse("formatted into a string (f-string or format())")

    def __add__(self, other: object) -> NoReturn:
        self._misuse("used in arithmetic (+)")

    __radd__ = __add__

    def __sub__(self, other: object) -> NoReturn:
        self._misuse("used in arithmetic (-)")

    __rsub__ = __sub__

    def __mul__(self, other: object) -> NoReturn:
        self._misuse("used in arithmetic (*)")

    __rmul__ = __mul__

    def __truediv__(self, other: object) -> NoReturn:
        self._misuse("used in arithmetic (/)")

    __rtruediv__ = __truediv__

    def __floordiv__(self, other: object) -> NoReturn:
        self._misuse("used in arithmetic (//)")

    __rfloordiv__ = __floordiv__

    def __mod__(self, other: object) -> NoReturn:
        self._misuse("used in arithmetic (%)")

    __rmod__ = __mod__

    def __neg__(self) -> NoReturn:
        self._misuse("negated")

    def __call__(self, *args: Any, **kwargs: Any) -> NoReturn:
        self._misuse("called")

    def __repr__(self) -> str:
        return f"<{self.describe()}>"


class ParameterRef(Placeholder):
    def __init__(self, name: str, type: str) -> None:
        self.name = name
        self.type = type

    def describe(self) -> str:
        return f"pipeline parameter {self.name!r}"


class TaskOutput(Placeholder):
    def __init__(self, task: Task, name: str, is_artifact: bool, type: str) -> None:
        self.task = task
        self.name = name
        self.is_artifact = is_artifact
        self.type = type

    def describe(self) -> str:
        return f"output {self.name!r} of task {self.task.name!r}"

    def __getitem__(self, key: object) -> NoReturn:
        self._misuse(f"indexed ([{key!r}]); pass it whole and index inside the component")


class CollectedOutput(Placeholder):
    """`dsl.Collected(task.output)`: the list of a looped task's outputs, in item order."""

    def __init__(self, output: TaskOutput, site: str) -> None:
        self.output = output
        self.site = site

    def describe(self) -> str:
        return f"dsl.Collected({self.output.describe()})"


class LoopItem(Placeholder):
    """The current item of a dsl.ParallelFor; `item.key` / `item["key"]` select one key."""

    def __init__(self, loop: Loop, key: str | None = None) -> None:
        self._loop = loop
        self._key = key

    @property
    def loop(self) -> Loop:
        return self._loop

    @property
    def key(self) -> str | None:
        return self._key

    def describe(self) -> str:
        base = f"the item of the dsl.ParallelFor at {self._loop.site}"
        return base if self._key is None else f"key {self._key!r} of {base}"

    def __getattr__(self, name: str) -> LoopItem:
        if name.startswith("_"):
            raise AttributeError(name)
        return self[name]

    def __getitem__(self, key: object) -> LoopItem:
        if self._key is not None:
            self._misuse(f"indexed twice ([{self._key!r}][{key!r}]); only one level of keys "
                         "is supported")
        if not isinstance(key, str):
            self._misuse(f"indexed with {key!r}; loop items are indexed by a key name (str)")
        return LoopItem(self._loop, key)


class DataInput(Placeholder):
    """`dsl.DataInput("repo@ref:/path")`: a file or folder of a data repo, as an input artifact.

    The run resolves the ref to a commit once and records it, so lineage runs from the data
    commit to the run (docs/data.md).
    """

    def __init__(self, ref: str) -> None:
        from flowyard.data.refs import parse_target

        site = user_site()
        if not isinstance(ref, str):
            raise InvalidInput(f"{site}: dsl.DataInput() takes 'repo@ref:/path', got {ref!r}")
        try:
            parse_target(ref)
        except InvalidInput as exc:
            raise InvalidInput(f"{site}: dsl.DataInput({ref!r}): {exc.message}",
                               hint=exc.hint) from None
        self.ref = ref
        self.site = site

    def describe(self) -> str:
        return f"dsl.DataInput({self.ref!r})"


class RunStatus(Placeholder):
    def describe(self) -> str:
        return "dsl.PipelineTaskFinalStatus()"


class Cond:
    """A condition for dsl.If: a comparison, or `&` (all), `|` (any), `~` (not) of them."""

    def __init__(self, op: str, parts: tuple[Any, ...]) -> None:
        self.op = op
        self.parts = parts

    def __and__(self, other: Cond) -> Cond:
        return self._join("all", _cond(other, "&"))

    def __or__(self, other: Cond) -> Cond:
        return self._join("any", _cond(other, "|"))

    def _join(self, op: str, other: Cond) -> Cond:
        # a & b & c is one `all` of three, not nested pairs.
        left = self.parts if self.op == op else (self,)
        right = other.parts if other.op == op else (other,)
        return Cond(op, (*left, *right))

    def __invert__(self) -> Cond:
        return Cond("not", (self,))

    def __bool__(self) -> bool:
        raise InvalidInput(
            f"{user_site()}: a comparison of pipeline values is only known when the run "
            "executes; it cannot be used in a Python `if`, `and`, `or` or `not`",
            hint="use `with dsl.If(a == b):` for a guarded block; combine conditions "
                 "with `&`, `|` and `~`",
        )

    def __repr__(self) -> str:
        return f"Cond({self.op!r}, {self.parts!r})"


def _cond(value: object, op: str) -> Cond:
    if not isinstance(value, Cond):
        raise InvalidInput(f"{user_site()}: `{op}` combines conditions (comparisons such as "
                           f"`task.output == 1`), got {value!r}")
    return value
