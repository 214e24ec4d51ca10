"""`flowyard run FILE.py:PIPELINE | FILE.yaml -p key=value ...` (the body is in running.py)"""

from __future__ import annotations

from typing import Annotated

import typer

from flowyard.cli.output import OutputFormat
from flowyard.cli.running import RunArgs, run_pipeline
from flowyard.cli.running import drive as drive
from flowyard.cli.running import report as report

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
    # `main()` usually gets here without typer (running.quick_run_args); same function.
    raise typer.Exit(run_pipeline(RunArgs(
        target=target, param=param or [], no_cache=no_cache, detach=detach,
        namespace=namespace, output=output)))
