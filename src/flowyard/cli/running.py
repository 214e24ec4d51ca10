"""What `flowyard run` does, and its command line read without typer.

Importing typer and building its command (typer turns every parameter into a pydantic
TypeAdapter) costs about as much CPU as a short pipeline run itself. So `main()` first
offers the arguments to `quick_run_args`: a plain `flowyard run TARGET [options]` line, in
exactly the forms below, runs at once; anything else (help, a typo, an unknown option, an
option glued to its value such as `-pk=v`, the global `--server`) goes to typer, which also
words every usage error. Both roads end in `run_pipeline`, so they behave the same.

    run TARGET   --param/-p K=V (repeatable, also --param=K=V)   --no-cache   --detach/-d
                 --namespace/-n NS (also --namespace=NS)   --output/-o table|json|yaml
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flowyard.cli.output import OutputFormat

if TYPE_CHECKING:
    from flowyard.client import Client, Run
    from flowyard.pipelines.engine import RunEvent

    Start = Callable[[Callable[[RunEvent], None]], Run]

_FLAGS = {"--no-cache": "no_cache", "--detach": "detach", "-d": "detach"}
_VALUES = {"--param": "param", "-p": "param", "--namespace": "namespace", "-n": "namespace",
           "--output": "output", "-o": "output"}


@dataclass
class RunArgs:
    target: str
    param: list[str] = field(default_factory=list)
    no_cache: bool = False
    detach: bool = False
    namespace: str | None = None
    output: OutputFormat = OutputFormat.table


def quick_run_args(args: list[str]) -> RunArgs | None:
    """The arguments of a plain `run` command line, or None to leave it to typer."""
    if not args or args[0] != "run":
        return None
    target: str | None = None
    found: dict[str, str | list[str] | bool] = {"param": []}
    rest = iter(args[1:])
    for arg in rest:
        name, eq, glued = arg.partition("=")
        if arg in _FLAGS:
            found[_FLAGS[arg]] = True
        elif name in _VALUES and (not eq or name.startswith("--")):   # not -p=K=V
            value = glued if eq else next(rest, None)
            if value is None or (not eq and value.startswith("-")):
                return None          # missing value, or one click might read differently
            key = _VALUES[name]
            if key == "param":
                params = found["param"]
                assert isinstance(params, list)
                params.append(value)
            else:
                found[key] = value   # the last one wins, as in click
        elif arg.startswith("-") or target is not None:
            return None              # help, an unknown option, "-", "--" or a second target
        else:
            target = arg
    output = found.get("output", "table")
    if target is None or output not in OutputFormat.__members__.values():
        return None
    namespace = found.get("namespace")
    params = found["param"]
    assert isinstance(params, list)
    return RunArgs(target=target, param=params, no_cache=found.get("no_cache") is True,
                   detach=found.get("detach") is True,
                   namespace=namespace if isinstance(namespace, str) else None,
                   output=OutputFormat(str(output)))


def run_pipeline(a: RunArgs) -> int:
    """Run the pipeline to the end and report it; the exit code (0 Succeeded, else 1)."""
    from flowyard.client import Client
    from flowyard.client.parameters import parse_assignments

    raw = parse_assignments(a.param)
    with Client() as client:
        pipeline = client.load(a.target)
        if a.detach:
            run = client.run(pipeline, raw, cache=not a.no_cache, wait=False,
                             namespace=a.namespace)
            _report_detached(run, a.output)
            return 0
        finished = drive(
            client,
            lambda on_event: client.run(pipeline, raw, cache=not a.no_cache, on_event=on_event,
                                        namespace=a.namespace),
            label=pipeline.name,
        )
        report(client, finished, a.output)
    return 0 if finished.state == "Succeeded" else 1


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
