"""The progress events the engine emits for every run and step state change."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class RunEvent:
    run_id: str
    kind: Literal["run", "step"]
    state: str
    """The run or step state after the change."""
    step_id: str | None = None
    message: str | None = None
    """Error text, "cache hit", "retry 2/3 in 4.0s", a warning."""
    total: int | None = None
    """Step records known so far (loops add records when they expand)."""
    done: int | None = None
    """Step records in a terminal state."""
