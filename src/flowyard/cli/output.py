"""Shared output helpers: data goes to stdout (table, JSON or YAML), progress to stderr."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from flowyard.client import ArtifactInfo, Client, Run


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    yaml = "yaml"


STATE_STYLES = {
    "Succeeded": "green", "Cached": "cyan", "Running": "yellow", "Pending": "dim",
    "Failed": "red", "Cancelled": "magenta", "Skipped": "dim", "Omitted": "dim",
}


def stdout_console() -> Console:
    import os

    from rich.console import Console

    # Piped output (files, CI logs) is read later and wider than 80 columns is fine there;
    # ids must not be cut. COLUMNS still wins when set.
    width = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 140
    return Console(file=sys.stdout, soft_wrap=False, width=width)


def stderr_console() -> Console:
    from rich.console import Console

    return Console(file=sys.stderr)


def print_data(data: Any, fmt: OutputFormat) -> None:
    """JSON or YAML on stdout, for scripts (`| jq`, `| yq`)."""
    if fmt is OutputFormat.yaml:
        import yaml

        sys.stdout.write(yaml.safe_dump(_plain(data), sort_keys=False, allow_unicode=True))
    else:
        from flowyard.platform.codec import json_safe

        # Strict JSON: a non-finite float is the string "Infinity"/"-Infinity"/"NaN".
        sys.stdout.write(json.dumps(json_safe(_plain(data)), indent=2, allow_nan=False) + "\n")
    sys.stdout.flush()


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def styled_state(state: str) -> str:
    style = STATE_STYLES.get(state)
    return f"[{style}]{state}[/{style}]" if style else state


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 60:
        return f"{value:.1f}s"
    minutes, secs = divmod(int(value), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def size(value: int) -> str:
    amount = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if amount < 1024 or unit == "GiB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{value} B"


def when(value: datetime | None) -> str:
    if value is None:
        return "-"
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def short(value: Any, width: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(_plain(value))
    return text if len(text) <= width else text[: width - 1] + "…"


def run_document(client: Client, run: Run) -> dict[str, Any]:
    """A run with its steps and artifacts, as plain data (the JSON/YAML output)."""
    body = run.to_dict()
    body["artifacts"] = [a.to_dict() for a in client.artifacts(run.id)]
    return body


def print_run(client: Client, run: Run, *, console: Console | None = None) -> None:
    """A run as a human reads it: summary, parameters, outputs, steps, metrics, artifacts."""
    from rich.table import Table

    out = console or stdout_console()
    artifacts = client.artifacts(run.id)
    out.print(f"[bold]Run[/bold] {run.id}  {styled_state(run.state)}")
    out.print(f"  pipeline   {run.pipeline}  (namespace {run.namespace})")
    out.print(f"  created    {when(run.created_at)}   duration {seconds(run.duration)}")
    if run.error:
        out.print(f"  error      [red]{run.error}[/red]", highlight=False)
    if _driver_gone(run):
        out.print(f"  driver     [yellow]process {run.driver_pid} on {run.driver_host} is gone"
                  f"[/yellow]: `flowyard runs resume {run.id}` continues the run, `flowyard "
                  f"runs cancel {run.id}` stops it (its exit handler runs)", highlight=False)
    if run.parameters:
        out.print("  parameters " + ", ".join(f"{k}={short(v, 40)}"
                                           for k, v in run.parameters.items()))
    if run.outputs:
        by_id = {a.id: a for a in artifacts}
        out.print("[bold]Outputs[/bold]")
        for name, value in run.outputs.items():
            art = by_id.get(value) if isinstance(value, str) else None
            shown = short(value, 80)
            if art is not None:
                facts = [] if art.type in ("Metrics", "ClassificationMetrics") else [
                    f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={short(v, 24)}"
                    for k, v in art.metadata.items() if isinstance(v, str | int | float)][:4]
                shown = (f"{art.type} artifact {art.id} ({art.name} of step {art.step_id}"
                         + (f"; {', '.join(facts)}" if facts else "") + ")")
            out.print(f"  {name} = {shown}", highlight=False)
    if run.steps:
        out.print(steps_table(run))
    metrics = metrics_table(artifacts)
    if metrics is not None:
        out.print(metrics)
    if artifacts:
        table = Table(title="Artifacts", title_justify="left", title_style="bold")
        table.add_column("ID", overflow="fold")
        for column in ("NAME", "TYPE", "STEP", "SIZE"):
            table.add_column(column)
        for art in artifacts:
            table.add_row(art.id, art.name, art.type, art.step_id,
                          size(art.size) + (" (dir)" if art.is_tree else ""))
        out.print(table)


def _driver_gone(run: Run) -> bool:
    """A Running run whose driver on this host has died (another host's cannot be seen)."""
    from flowyard.processes import driver_alive

    return run.state == "Running" and run.driver_pid is not None and not driver_alive(
        run.driver_pid, run.driver_host)


def steps_table(run: Run) -> Any:
    from rich.table import Table

    table = Table(title="Steps", title_justify="left", title_style="bold")
    for column in ("STEP", "STATE", "DURATION", "ATTEMPT", "NOTE"):
        table.add_column(column)
    for step in run.steps:
        note = "cache hit" if step.cache_hit else (short(step.error, 60) if step.error else "")
        if not note and step.outputs:
            note = ", ".join(f"{k}={short(v, 20)}" for k, v in step.outputs.items())
        table.add_row(step.id, styled_state(step.state), seconds(step.duration),
                      str(step.attempt or "-"), note)
    return table


def metrics_table(artifacts: list[ArtifactInfo]) -> Any | None:
    from rich.table import Table

    rows = []
    for art in artifacts:
        if art.type not in ("Metrics", "ClassificationMetrics"):
            continue
        for key, value in art.metadata.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                rows.append((art.step_id, art.name, key, f"{value:.6g}"))
    if not rows:
        return None
    table = Table(title="Metrics", title_justify="left", title_style="bold")
    for column in ("STEP", "ARTIFACT", "METRIC", "VALUE"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    return table
