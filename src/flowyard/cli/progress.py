"""Live run progress on stderr, fed by the engine's RunEvents.

On a terminal: a bar (steps done/total) with the names of the steps running now, and a line
per finished step above it. Elsewhere (CI logs, pipes): one plain line per finished step.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any

from flowyard.cli.output import seconds, stderr_console, styled_state

if TYPE_CHECKING:
    from rich.console import Console

    from flowyard.pipelines.engine import RunEvent

_FINAL = {"Succeeded", "Cached", "Failed", "Skipped", "Omitted", "Cancelled"}
_MARKS = {"Succeeded": "[green]✓[/green]", "Cached": "[cyan]✓[/cyan]", "Failed": "[red]✗[/red]",
          "Cancelled": "[magenta]✗[/magenta]", "Skipped": "[dim]-[/dim]",
          "Omitted": "[dim]-[/dim]"}


class RunProgress:
    def __init__(self, console: Console | None = None, *, label: str = "run") -> None:
        self.console = console or stderr_console()
        self.label = label
        self.running: dict[str, None] = {}  # insertion-ordered set
        self.done = 0
        self.total: int | None = None
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> RunProgress:
        if self.console.is_terminal:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(
                SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                MofNCompleteColumn(), TimeElapsedColumn(), console=self.console,
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task(self.label, total=None)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def on_event(self, event: RunEvent) -> None:
        if event.total is not None:
            self.total = event.total
        if event.done is not None:
            self.done = event.done
        if event.kind == "run":
            if event.state == "Running" and not self.running and self.done == 0:
                self.console.print(f"run [bold]{event.run_id}[/bold] started", highlight=False)
        elif event.step_id is not None:
            if event.state == "Running":
                self.running[event.step_id] = None
                if event.message:  # e.g. "retry 2/3 in 4.0s"
                    self.console.print(f"  ↻ {event.step_id}: {event.message}", highlight=False)
            elif event.state in _FINAL:
                self.running.pop(event.step_id, None)
                note = f"  {event.message}" if event.message else ""
                mark = _MARKS.get(event.state, "·")
                self.console.print(
                    f"  {mark} {event.step_id} {styled_state(event.state)}{note}",
                    highlight=False,
                )
        self._refresh()

    def _refresh(self) -> None:
        if self._progress is None:
            return
        names = list(self.running)
        shown = ", ".join(names[:3]) + (f" +{len(names) - 3}" if len(names) > 3 else "")
        self._progress.update(
            self._task, total=self.total, completed=self.done,
            description=f"{self.label}: {shown}" if shown else self.label,
        )


def final_line(state: str, run_id: str, duration: float | None) -> str:
    return f"run [bold]{run_id}[/bold] {styled_state(state)} in {seconds(duration)}"
