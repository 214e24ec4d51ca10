"""The progress display, fed real RunEvents, on a terminal and in a log."""

from __future__ import annotations

import io

from rich.console import Console

from flowyard.cli.progress import RunProgress
from flowyard.pipelines.engine import RunEvent


def _events() -> list[RunEvent]:
    return [
        RunEvent("r1", "run", "Running", total=3, done=0),
        RunEvent("r1", "step", "Running", step_id="train[0]", total=3, done=0),
        RunEvent("r1", "step", "Running", step_id="train[1]", total=3, done=0),
        RunEvent("r1", "step", "Running", step_id="train[1]", message="retry 2/3 in 1.0s"),
        RunEvent("r1", "step", "Succeeded", step_id="train[0]", total=3, done=1),
        RunEvent("r1", "step", "Failed", step_id="train[1]", message="ValueError: x",
                 total=3, done=2),
        RunEvent("r1", "step", "Omitted", step_id="pick", total=3, done=3),
        RunEvent("r1", "run", "Failed", total=3, done=3),
    ]


def test_terminal_progress_tracks_running_steps_and_counts() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=100)
    with RunProgress(console, label="demo") as progress:
        for event in _events()[:3]:
            progress.on_event(event)
        assert list(progress.running) == ["train[0]", "train[1]"]
        task = progress._progress.tasks[0]
        assert task.description == "demo: train[0], train[1]"
        assert (task.total, task.completed) == (3, 0)
        for event in _events()[3:]:
            progress.on_event(event)
        assert progress.running == {}
        assert (task.total, task.completed) == (3, 3)
    text = buffer.getvalue()
    assert "started" in text
    assert "train[0]" in text and "ValueError: x" in text and "retry 2/3" in text


def test_plain_log_has_one_line_per_finished_step() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=False, width=100)
    with RunProgress(console) as progress:
        for event in _events():
            progress.on_event(event)
    lines = buffer.getvalue().splitlines()
    assert lines[0] == "run r1 started"
    assert "✓ train[0] Succeeded" in lines[2]
    assert "✗ train[1] Failed  ValueError: x" in lines[3]
    assert "- pick Omitted" in lines[4]
    assert len(lines) == 5
