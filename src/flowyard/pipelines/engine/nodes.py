"""The scheduler's view of one step instance: a plain step, a loop, or a loop iteration."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flowyard.resources.pipeline import Component, Step
from flowyard.store.records import StepRecord

FAILED_LIKE = frozenset({"Failed", "Omitted", "Cancelled"})
DONE_OK = frozenset({"Succeeded", "Cached"})


@dataclass(eq=False, slots=True)
class Node:
    id: str
    """The StepRecord id: 'train', or 'train[3]' for an iteration."""
    step: Step
    component: Component
    record: StepRecord
    iteration: int | None = None
    item: Any = None
    is_loop: bool = False
    """The parent of a loop's iterations (it runs no process itself)."""
    expanded: bool = False
    children: list[str] = field(default_factory=list)
    waiting: set[str] = field(default_factory=set)
    """Ids this node still waits for ('x#expanded' waits for loop x to expand)."""
    is_exit: bool = False
    # the attempt in flight
    rid: str | None = None
    kill_reason: str | None = None
    attempts_here: int = 0
    """Attempts in this execution (retry limits count these; record.attempt continues)."""
    task: dict[str, Any] | None = None
    artifacts_in: dict[str, Any] = field(default_factory=dict)
