"""Evaluating a step's `when` guard on resolved values."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from flowyard.resources.pipeline import Condition, Ref

_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "in": lambda a, b: a in b,
    "not in": lambda a, b: a not in b,
}


class ConditionError(ValueError):
    """The operands cannot be compared (e.g. '<' between a str and an int)."""


def evaluate(condition: Condition, resolve: Callable[[Ref], Any]) -> bool:
    if condition.all is not None:
        return all(evaluate(c, resolve) for c in condition.all)
    if condition.any is not None:
        return any(evaluate(c, resolve) for c in condition.any)
    if condition.not_ is not None:
        return not evaluate(condition.not_, resolve)
    assert condition.op is not None and condition.left is not None
    assert condition.right is not None
    left, right = resolve(condition.left), resolve(condition.right)
    try:
        return bool(_OPS[condition.op](left, right))
    except TypeError as exc:
        raise ConditionError(
            f"cannot evaluate {left!r} {condition.op} {right!r}: {exc}") from None
