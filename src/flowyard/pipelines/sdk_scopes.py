"""The blocks a traced pipeline function can be inside: a loop, a branch, the exit handler."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flowyard.pipelines.sdk_placeholders import Cond
    from flowyard.pipelines.sdk_task import Task


@dataclass(eq=False)
class Loop:
    items: Any
    parallelism: int | None
    site: str


@dataclass(eq=False)
class Branch:
    label: str          # "If", "Elif", "Else"
    cond: Cond          # the effective condition (Elif/Else include the negated earlier ones)
    own: Cond | None    # the condition written (None for Else)
    site: str


@dataclass(eq=False)
class ExitScope:
    task: Task
    site: str


Scope = Loop | Branch | ExitScope
