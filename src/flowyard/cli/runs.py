"""`flowyard runs list|get|logs|retry|cancel|resume|artifacts|download`"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flowyard.cli.output import OutputFormat

app = typer.Typer(help="Inspect and control pipeline runs.", no_args_is_help=True)

RunId = Annotated[str, typer.Argument(help="The run id (see `flowyard runs list`).",
                                      show_default=False, metavar="RUN_ID")]
Output = Annotated[OutputFormat, typer.Option("--output", "-o", help="Output format.")]
Detach = Annotated[bool, typer.Option("--detach", "-d",
                                      help="Continue in the background; print the run id.")]


@app.command("list")
def list_command(
    namespace: Annotated[str | None, typer.Option("--namespace", "-n")] = None,
    pipeline: Annotated[str | None, typer.Option("--pipeline", help="Pipeline name.")] = None,
    state: Annotated[str | None, typer.Option(
        "--state", help="Pending, Running, Succeeded, Failed or Cancelled.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many.")] = 50,
    output: Output = OutputFormat.table,
) -> None:
    """List runs, newest first."""
    from flowyard.cli.output import print_data, seconds, stdout_console, styled_state, when
    from flowyard.client import Client
    from flowyard.errors import InvalidInput

    states = ("Pending", "Running", "Succeeded", "Failed", "Cancelled")
    if state is not None and state not in states:
        raise InvalidInput(f"--state {state!r} is not a run state",
                           hint=f"one of: {', '.join(states)}")
    with Client() as client:
        runs = client.runs(namespace=namespace, pipeline=pipeline, state=state, limit=limit)
    if output is not OutputFormat.table:
        print_data([r.to_dict() for r in runs], output)
        return
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for column in ("RUN", "PIPELINE", "STATE", "CREATED", "DURATION"):
        table.add_column(column)
    for run in runs:
        table.add_row(run.id, run.pipeline, styled_state(run.state), when(run.created_at),
                      seconds(run.duration))
    console = stdout_console()
    filters = " ".join(f"--{flag} {value}" for flag, value in
                       (("namespace", namespace), ("pipeline", pipeline), ("state", state))
                       if value is not None)
    if runs:
        console.print(table)
    elif filters:
        # Runs may well exist: only none of them passes the filters.
        console.print(f"no runs match {filters}", highlight=False, markup=False)
    else:
        console.print("no runs yet: start one with `flowyard run FILE.py:PIPELINE`",
                      highlight=False)


@app.command("get")
def get_command(run_id: RunId, output: Output = OutputFormat.table) -> None:
    """Show a run: state, parameters, outputs, steps, metrics and artifacts."""
    from flowyard.cli.output import print_data, print_run, run_document
    from flowyard.client import Client

    with Client() as client:
        run = client.get_run(run_id)
        if output is OutputFormat.table:
            print_run(client, run)
        else:
            print_data(run_document(client, run), output)


@app.command("logs")
def logs_command(
    run_id: RunId,
    step: Annotated[str | None, typer.Option("--step", "-s",
                                             help="Only this step, e.g. 'train[1]'.")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f",
                                         help="Keep printing until the run ends.")] = False,
) -> None:
    """Print the logs of a run's steps (stdout and stderr of each attempt)."""
    import sys

    from flowyard.client import Client

    with Client() as client:
        for line in client.logs(run_id, step_id=step, follow=follow):
            sys.stdout.write(line + "\n")
            if follow:
                sys.stdout.flush()


@app.command("retry")
def retry_command(run_id: RunId, detach: Detach = False,
                  output: Output = OutputFormat.table) -> None:
    """Re-run the failed, omitted and cancelled steps of a Failed or Cancelled run."""
    _continue(run_id, "retry", detach, output)


@app.command("resume")
def resume_command(run_id: RunId, detach: Detach = False,
                   output: Output = OutputFormat.table) -> None:
    """Continue a run whose driver process died (steps that finished are kept)."""
    _continue(run_id, "resume", detach, output)


def _continue(run_id: str, how: str, detach: bool, output: OutputFormat) -> None:
    from flowyard.cli.run import drive, report
    from flowyard.client import Client

    with Client() as client:
        call = client.retry if how == "retry" else client.resume
        if detach:
            run = call(run_id, wait=False)
            typer.echo(run.id)
            return
        finished = drive(client, lambda on_event: call(run_id, on_event=on_event),
                         label=f"{how} {run_id}")
        report(client, finished, output)
    raise typer.Exit(0 if finished.state == "Succeeded" else 1)


@app.command("cancel")
def cancel_command(run_id: RunId, output: Output = OutputFormat.table) -> None:
    """Cancel a run: running steps are stopped, the exit handler runs."""
    from flowyard.cli.output import print_data
    from flowyard.client import Client

    with Client() as client:
        run = client.cancel(run_id)
    if output is OutputFormat.table:
        typer.echo(f"run {run.id} {run.state}")
    else:
        print_data(run.to_dict(), output)


@app.command("artifacts")
def artifacts_command(run_id: RunId, output: Output = OutputFormat.table) -> None:
    """List the artifacts a run produced."""
    from flowyard.cli.output import print_data, size, stdout_console
    from flowyard.client import Client

    with Client() as client:
        artifacts = client.artifacts(run_id)
    if output is not OutputFormat.table:
        print_data([a.to_dict() for a in artifacts], output)
        return
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for column in ("ARTIFACT", "NAME", "TYPE", "STEP", "SIZE", "DIGEST"):
        table.add_column(column)
    for art in artifacts:
        table.add_row(art.id, art.name, art.type, art.step_id, size(art.size),
                      art.digest[:19])
    stdout_console().print(table)


@app.command("download")
def download_command(
    artifact_id: Annotated[str, typer.Argument(help="Artifact id (see `runs artifacts`).",
                                               show_default=False, metavar="ARTIFACT_ID")],
    dest: Annotated[Path, typer.Argument(help="File or folder to write; a folder that "
                                               "exists receives the artifact inside it.",
                                         show_default=False, metavar="DEST")],
) -> None:
    """Write an artifact (a file or a folder) to the local disk."""
    from flowyard.client import Client

    with Client() as client:
        path = client.download_artifact(artifact_id, dest)
    typer.echo(str(path))
