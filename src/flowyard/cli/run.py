"""`flowyard run FILE.py:PIPELINE | FILE.yaml -p key=value ...`"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from flowyard.cli.output import OutputFormat

if TYPE_CHECKING:
    from flowyard.client import Client, Run
    from flowyard.pipelines.engine import RunEvent

    Start = Callable[[Callable[[RunEvent], None]], Run]

TARGET_HELP = "FILE.py:PIPELINE, FILE.py (its only pipeline) or FILE.yaml (a Pipeline resource)"


def run_command(
    target: Annotated[str, typer.Argument(help=TARGET_HELP, show_default=False, metavar="TARGET")],
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", metavar="KEY=VALUE",
                     help="A pipeline parameter; repeat for several. Typed by the pipeline."),
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Run every step, ignoring cached results.")
    ] = False,
    detach: Annotated[
        bool, typer.Option("--detach", "-d",
                           help="Start the run in the background and print its id.")
    ] = False,
    namespace: Annotated[
        str | None, typer.Option("--namespace", "-n", help="Namespace (profile) of the run.")
    ] = None,
    output: Annotated[
        OutputFormat, typer.Option("--output", "-o", help="Final report format on stdout.")
    ] = OutputFormat.table,
) -> None:
    """Run a pipeline to the end and report it (exit 0 Succeeded, 1 Failed/Cancelled)."""
    from flowyard.client import Client
    from flowyard.client.parameters import parse_assignments

    raw = parse_assignments(param or [])
    with Client() as client:
        pipeline = client.load(target)
        if detach:
            run = client.run(pipeline, raw, cache=not no_cache, wait=False, namespace=namespace)
            _report_detached(run, output)
            return
        finished = drive(
            client,
            lambda on_event: client.run(pipeline, raw, cache=not no_cache, on_event=on_event,
                                        namespace=namespace),
            label=pipeline.name,
        )
        report(client, finished, output)
    raise typer.Exit(0 if finished.state == "Succeeded" else 1)


def drive(client: Client, start: Start, *, label: str) -> Run:
    """Call `start(on_event)` under a live progress display on stderr."""
    from flowyard.cli.progress import RunProgress

    with RunProgress(label=label) as progress:
        return start(progress.on_event)


def report(client: Client, run: Run, output: OutputFormat) -> None:
    """The final report: the run as a table (stdout) or data, and failures on stderr."""
    from flowyard.cli.output import (
        print_data,
        print_run,
        run_document,
        stderr_console,
    )
    from flowyard.cli.progress import final_line

    err = stderr_console()
    if output is OutputFormat.table:
        print_run(client, run)
    else:
        print_data(run_document(client, run), output)
    for step in run.steps:
        if step.state == "Failed":
            err.print(f"[red]step {step.id} failed[/red]: {step.error or 'no error recorded'}",
                      highlight=False)
            err.print(f"  logs: flowyard runs logs {run.id} --step '{step.id}'",
                      highlight=False)
    err.print(final_line(run.state, run.id, run.duration), highlight=False)


def _report_detached(run: Run, output: OutputFormat) -> None:
    import sys

    from flowyard.cli.output import print_data

    if output is OutputFormat.table:
        sys.stdout.write(run.id + "\n")
        sys.stderr.write(f"run {run.id} started in the background; follow it with "
                         f"`flowyard runs logs {run.id} --follow`\n")
    else:
        print_data(run.to_dict(), output)
