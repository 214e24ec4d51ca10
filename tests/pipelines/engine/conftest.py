"""Engine-test helpers; the store and engine fixtures live in tests/pipelines/conftest.py."""

from __future__ import annotations

import pytest

from flowyard.pipelines.engine import RunEvent


class Recorder:
    """Collects RunEvents (the CLI's progress feed)."""

    def __init__(self) -> None:
        self.events: list[RunEvent] = []

    def __call__(self, event: RunEvent) -> None:
        self.events.append(event)

    def states(self, step_id: str) -> list[str]:
        return [e.state for e in self.events if e.step_id == step_id]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()
