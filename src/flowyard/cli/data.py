"""`flowyard data ...`: versioned data repos, branches, commits and provenance.

Registered in main.py as `app.add_typer(data_cmd.app, name="data")`. Only typer loads at
import time; the store opens inside each command, through `DataStore.from_settings`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from flowyard.cli.output import OutputFormat

if TYPE_CHECKING:
    from flowyard.data import Commit, DataStore

app = typer.Typer(
    help="Versioned data: repos, branches, commits with provenance (REPO@REF:/path).",
    no_args_is_help=True,
)
repo_app = typer.Typer(help="Create, list and delete data repos.", no_args_is_help=True)
branch_app = typer.Typer(help="Create, list and delete branches.", no_args_is_help=True)
pipeline_app = typer.Typer(help="Data pipelines: transforms over datums of repos.",
                           no_args_is_help=True)
app.add_typer(repo_app, name="repo")
app.add_typer(branch_app, name="branch")
app.add_typer(pipeline_app, name="pipeline")

Output = Annotated[OutputFormat, typer.Option("--output", "-o", help="Output format.")]
Ref = Annotated[str, typer.Argument(
    help="REPO@REF[:/path]; REF is a branch, a commit id (prefix) or an ancestry such as "
    "master^ or master~3.", show_default=False)]


def _store() -> DataStore:
    """The embedded store, or the platform's repos with --server / FLOWYARD_SERVER."""
    from flowyard.data import DataStore

    remote = _remote()
    if remote is not None:
        return remote  # type: ignore[no-any-return]  # HttpData has DataStore's methods
    return DataStore.from_settings()


def _remote() -> Any:
    import os

    from flowyard.settings import Settings

    settings = Settings()
    login = (settings.home / "login.json").exists()
    if not os.environ.get("FLOWYARD_SERVER") and not login:
        return None
    from flowyard.client.client import Client
    from flowyard.client.http_data import HttpData

    client = Client(settings=settings)
    if not client.server:
        client.close()
        return None
    return HttpData(client.transport, settings.namespace,  # type: ignore[arg-type]
                    on_close=client.close)


def _local_store(what: str) -> DataStore:
    """Data pipelines run where the stores are; over a platform they are resources."""
    from flowyard.data import DataStore
    from flowyard.errors import InvalidInput

    remote = _remote()
    if remote is not None:
        remote.close()
        raise InvalidInput(f"{what} commands work on the local stores, not through a server",
                           hint="on a platform, apply the DataPipeline resource: flowyard "
                                "--server URL apply -f pipeline.yaml")
    return DataStore.from_settings()


def _commit_row(c: Commit) -> dict[str, Any]:
    d = c.to_dict()
    d["parent"] = c.parent
    return d


def _console() -> Any:
    from flowyard.cli.output import stdout_console

    return stdout_console()


def _table(*columns: str) -> Any:
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for col in columns:
        table.add_column(col)
    return table


# -- repos ----------------------------------------------------------------------------------


@repo_app.command("create")
def repo_create(
    name: Annotated[str, typer.Argument(help="Repo name.", show_default=False)],
    description: Annotated[str, typer.Option("--description", "-d")] = "",
) -> None:
    """Create a repo with an empty master branch."""
    with _store() as ds:
        ds.create_repo(name, description=description)
    typer.echo(f"created repo {name}")


@repo_app.command("list")
def repo_list(output: Output = OutputFormat.table) -> None:
    """List repos."""
    from flowyard.cli.output import print_data, when

    with _store() as ds:
        repos = ds.list_repos()
    if output is not OutputFormat.table:
        print_data([r.to_dict() for r in repos], output)
        return
    table = _table("REPO", "BRANCHES", "CREATED", "DESCRIPTION")
    for r in repos:
        table.add_row(r.name, ", ".join(r.branches), when(r.created_at), r.description)
    _console().print(table if repos else "no repos yet: flowyard data repo create NAME")


@repo_app.command("delete")
def repo_delete(
    name: Annotated[str, typer.Argument(help="Repo name.", show_default=False)],
    force: Annotated[bool, typer.Option(
        "--force", help="Delete even if other repos' commits were computed from it.")] = False,
) -> None:
    """Delete a repo (its blobs go at the next `flowyard data fsck --collect`)."""
    with _store() as ds:
        ds.delete_repo(name, force=force)
    typer.echo(f"deleted repo {name}")


# -- branches -------------------------------------------------------------------------------


@branch_app.command("create")
def branch_create(
    target: Annotated[str, typer.Argument(help="REPO@BRANCH", show_default=False)],
    head: Annotated[str | None, typer.Option(
        "--head", help="Start at this ref (e.g. master^ or a commit id); default empty.")] = None,
) -> None:
    """Create a branch."""
    with _store() as ds:
        b = ds.create_branch(target, start=head)
    typer.echo(f"created branch {b.repo}@{b.name}" + (f" at {b.head}" if b.head else ""))


@branch_app.command("list")
def branch_list(
    repo: Annotated[str, typer.Argument(help="Repo name.", show_default=False)],
    output: Output = OutputFormat.table,
) -> None:
    """List a repo's branches."""
    from flowyard.cli.output import print_data, when

    with _store() as ds:
        branches = ds.list_branches(repo)
    if output is not OutputFormat.table:
        print_data([b.to_dict() for b in branches], output)
        return
    table = _table("BRANCH", "HEAD", "UPDATED")
    for b in branches:
        table.add_row(b.name, b.head or "-", when(b.updated_at))
    _console().print(table)


@branch_app.command("delete")
def branch_delete(
    target: Annotated[str, typer.Argument(help="REPO@BRANCH", show_default=False)],
) -> None:
    """Delete a branch (its commits stay reachable by id)."""
    with _store() as ds:
        ds.delete_branch(target)
    typer.echo(f"deleted branch {target}")


# -- put and get ----------------------------------------------------------------------------


@app.command("put")
def put_command(
    target: Annotated[str, typer.Argument(
        help="REPO@BRANCH[:/path]; folders go under the path.", show_default=False)],
    local: Annotated[list[str], typer.Argument(
        help="Files or folders (recursive); '-' reads stdin.", show_default=False)],
    message: Annotated[str, typer.Option("--message", "-m")] = "",
    sync: Annotated[bool, typer.Option(
        "--sync", help="Also remove files under the path that the sources do not have.")] = False,
    output: Output = OutputFormat.table,
) -> None:
    """Put files into a branch as one atomic commit (unchanged data writes nothing)."""
    from flowyard.cli.output import print_data, size, stderr_console

    console = stderr_console()
    with _store() as ds, _Bar(console, "put") as bar:
        result = ds.put(target, local, message=message, sync=sync, progress=bar.update)
    if output is not OutputFormat.table:
        print_data(result.to_dict(), output)
        return
    commit = result.commit.id if result.commit else "-"
    if result.changed:
        typer.echo(
            f"committed {commit}: {result.files} files, read {result.files_read} "
            f"({size(result.bytes_read)}), {result.files_unchanged} unchanged, stored "
            f"{size(result.bytes_stored)} new in {len(result.packs)} pack(s)"
        )
    else:
        typer.echo(f"no change: {target} stays at {commit}")


@app.command("get")
def get_command(
    source: Ref,
    local: Annotated[str | None, typer.Argument(
        help="Where to write; default: the file to stdout, a folder to ./NAME.",
        show_default=False)] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing files.")] = False,
) -> None:
    """Write a file or folder of a commit to local disk (or a file to stdout)."""
    import sys

    from flowyard.cli.output import size, stderr_console
    from flowyard.data import parse_target

    tgt = parse_target(source)
    with _store() as ds:
        if local is None or local == "-":
            files = ds.ls(source)
            if local == "-" or (len(files) == 1 and files[0].type == "file"
                                and files[0].path == "/" + tgt.path):
                sys.stdout.buffer.write(ds.read_bytes(source))
                sys.stdout.buffer.flush()
                return
            local = tgt.path.rsplit("/", 1)[-1] or tgt.repo
        with _Bar(stderr_console(), "get") as bar:
            result = ds.get(source, Path(local), overwrite=overwrite, progress=bar.update)
    typer.echo(f"wrote {result.files} files ({size(result.bytes)}) of commit {result.commit} "
               f"to {result.dest}", err=True)


# -- reading --------------------------------------------------------------------------------


@app.command("ls")
def ls_command(
    source: Ref,
    recursive: Annotated[bool, typer.Option("--recursive", "-r")] = False,
    output: Output = OutputFormat.table,
) -> None:
    """List files and folders at a path of a commit."""
    from flowyard.cli.output import print_data, size

    with _store() as ds:
        entries = ds.ls(source, recursive=recursive)
    if output is not OutputFormat.table:
        print_data([e.to_dict() for e in entries], output)
        return
    table = _table("PATH", "TYPE", "SIZE", "FILES")
    for e in entries:
        table.add_row(e.path + ("/" if e.type == "dir" else ""), e.type, size(e.size),
                      str(e.files))
    _console().print(table)


@app.command("log")
def log_command(
    source: Ref,
    limit: Annotated[int | None, typer.Option("--limit", "-n", min=1)] = None,
    output: Output = OutputFormat.table,
) -> None:
    """Commits of a branch, newest first."""
    from flowyard.cli.output import print_data, short, size, when

    with _store() as ds:
        commits = ds.log(source, limit=limit)
    if output is not OutputFormat.table:
        print_data([_commit_row(c) for c in commits], output)
        return
    table = _table("COMMIT", "FINISHED", "ORIGIN", "FILES", "SIZE", "MESSAGE")
    for c in commits:
        table.add_row(c.id, when(c.finished_at), c.origin, str(c.files), size(c.bytes),
                      short(c.message, 40))
    _console().print(table)


@app.command("diff")
def diff_command(
    old: Annotated[str, typer.Argument(help="REPO@REF[:/path] (before).", show_default=False)],
    new: Annotated[str, typer.Argument(help="REPO@REF[:/path] (after).", show_default=False)],
    output: Output = OutputFormat.table,
) -> None:
    """Files added, removed and modified between two commits."""
    from flowyard.cli.output import print_data, size

    with _store() as ds:
        changes = ds.diff(old, new)
    if output is not OutputFormat.table:
        print_data([d.to_dict() for d in changes], output)
        return
    if not changes:
        typer.echo("no differences")
        return
    marks = {"added": "[green]+[/green]", "removed": "[red]-[/red]",
             "modified": "[yellow]~[/yellow]"}
    table = _table("", "PATH", "BEFORE", "AFTER")
    for d in changes:
        table.add_row(marks[d.change], d.path, "-" if d.old_size is None else size(d.old_size),
                      "-" if d.new_size is None else size(d.new_size))
    _console().print(table)


@app.command("inspect")
def inspect_command(
    commit: Ref,
    provenance: Annotated[bool, typer.Option(
        "--provenance", help="Also list every commit it was computed from, transitively, "
        "and the pipeline runs that wrote them.")] = False,
    subvenance: Annotated[bool, typer.Option(
        "--subvenance", help="Also list every commit computed from it, transitively, and the "
        "pipeline runs that read them.")] = False,
    output: Output = OutputFormat.table,
) -> None:
    """Show a commit, and optionally walk its provenance or subvenance."""
    from flowyard.cli.output import print_data, size, when

    with _store() as ds:
        c = ds.inspect(commit)
        up = ds.provenance(commit) if provenance else None
        down = ds.subvenance(commit) if subvenance else None
        reads = (ds.runs_reading([(x.repo, x.id) for x in [c, *down]])
                 if down is not None else None)
    doc = _commit_row(c)
    if up is not None:
        doc["provenance_closure"] = [f"{x.repo}@{x.id}" for x in up]
        doc["written_by_runs"] = [
            {"commit": f"{x.repo}@{x.id}", **{k: x.info[k] for k in ("run", "step", "artifact")
                                              if k in x.info}}
            for x in [c, *up] if x.origin == "pipeline" and "run" in x.info]
    if down is not None:
        doc["subvenance"] = [f"{x.repo}@{x.id}" for x in down]
    if reads is not None:
        doc["read_by_runs"] = [r.to_dict() for r in reads]
    if output is not OutputFormat.table:
        print_data(doc, output)
        return
    console = _console()
    lines = [
        ("commit", f"{c.repo}@{c.id}"), ("branch", c.branch or "-"),
        ("parent", c.parent or "-"), ("origin", c.origin), ("message", c.message or "-"),
        ("started", when(c.created_at)), ("finished", when(c.finished_at)),
        ("files", str(c.files)), ("size", size(c.bytes)), ("tree", c.tree or "-"),
        ("provenance", ", ".join(c.provenance) or "-"),
    ]
    if c.info:
        lines.append(("info", ", ".join(f"{k}={v}" for k, v in c.info.items())))
    for key, value in lines:
        console.print(f"[bold]{key:<11}[/bold]{value}", highlight=False)
    for title, walk in (("provenance (transitive)", up), ("subvenance (transitive)", down)):
        if walk is None:
            continue
        console.print(f"\n[bold]{title}[/bold]")
        if not walk:
            console.print("  none", highlight=False)
        for x in walk:
            by = (f"  (run {x.info['run']}, step {x.info.get('step', '-')})"
                  if x.origin == "pipeline" and "run" in x.info else "")
            console.print(f"  {x.repo}@{x.id}  {x.origin}  {when(x.finished_at)}{by}",
                          highlight=False)
    if reads is not None:
        console.print("\n[bold]read by pipeline runs[/bold]")
        if not reads:
            console.print("  none", highlight=False)
        for r in reads:
            console.print(f"  run {r.run}  step {r.step}  input {r.input}  <- "
                          f"{r.repo}@{r.commit}:{r.path}", highlight=False)


@app.command("fsck")
def fsck_command(
    collect: Annotated[bool, typer.Option(
        "--collect", help="Delete what killed puts and deleted repos left behind.")] = False,
    grace: Annotated[float, typer.Option(
        "--grace", help="Only collect unreferenced blobs older than this (seconds).")] = 3600.0,
    verify: Annotated[bool, typer.Option(
        "--verify/--no-verify", help="Re-hash every pack and tree blob.")] = True,
    output: Output = OutputFormat.table,
) -> None:
    """Check that every commit's blobs exist and match their digests; optionally collect."""
    from flowyard.cli.output import print_data, size
    from flowyard.errors import StoreError

    with _store() as ds:
        report = ds.fsck(collect=collect, grace=grace, verify=verify)
    if output is not OutputFormat.table:
        print_data(report.to_dict(), output)
    else:
        typer.echo(f"checked {report.commits} commits, {report.trees} trees, {report.packs} packs"
                   f" ({size(report.bytes_checked)})")
        if report.open_commits:
            typer.echo(f"{len(report.open_commits)} open commit(s) still being written")
        verb = "removed" if collect else "would remove (pass --collect)"
        if report.dead_commits_removed or report.blobs_removed or report.temp_files:
            temp = (f", {len(report.temp_files)} unfinished pack file(s)"
                    if report.temp_files else "")
            typer.echo(f"{verb}: {len(report.dead_commits_removed)} dead open commit(s), "
                       f"{len(report.blobs_removed)} blob(s){temp} "
                       f"({size(report.bytes_removed)})")
        if report.blobs_in_grace:
            typer.echo(f"kept {report.blobs_in_grace} unreferenced blob(s) "
                       f"({size(report.bytes_in_grace)}) younger than the grace period "
                       f"({grace:g} s): a put may be about to use them; --grace 0 includes them")
    if not report.ok:
        raise StoreError("fsck found problems:\n" + "\n".join(report.problems),
                         hint="restore the missing blobs from a backup, or re-put the data")


# -- data pipelines -------------------------------------------------------------------------


@pipeline_app.command("create")
def pipeline_create(
    file: Annotated[Path, typer.Argument(help="A DataPipeline YAML or JSON file.",
                                         show_default=False)],
    update: Annotated[bool, typer.Option("--update", help="Replace an existing one.")] = False,
) -> None:
    """Create a data pipeline (and its output repo) from a file."""
    import yaml

    from flowyard.data.pipelines import DataPipelines
    from flowyard.errors import InvalidInput

    try:
        body = yaml.safe_load(file.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidInput(f"cannot read data pipeline file {file}: {exc}",
                           hint="pass a YAML file with kind: DataPipeline") from exc
    if not isinstance(body, dict):
        raise InvalidInput(f"{file}: expected one DataPipeline mapping, got {type(body).__name__}")
    with _local_store("data pipeline") as ds:
        p = DataPipelines(ds).create(body, update=update)
    typer.echo(f"created data pipeline {p.metadata.name} (output repo {p.output_repo})")


@pipeline_app.command("list")
def pipeline_list(output: Output = OutputFormat.table) -> None:
    """List data pipelines."""
    from flowyard.cli.output import print_data
    from flowyard.data.pipelines import DataPipelines

    with _local_store("data pipeline") as ds:
        pipes = DataPipelines(ds).list_pipelines()
    if output is not OutputFormat.table:
        print_data([p.to_dict() for p in pipes], output)
        return
    table = _table("PIPELINE", "INPUTS", "OUTPUT REPO")
    for p in pipes:
        inputs = ", ".join(f"{x.repo}@{x.branch}:{x.glob}" for x in p.spec.input.leaves())
        table.add_row(p.metadata.name, inputs, p.output_repo)
    _console().print(table)


@pipeline_app.command("run")
def pipeline_run(
    name: Annotated[str, typer.Argument(help="Pipeline name.", show_default=False)],
    reprocess: Annotated[bool, typer.Option(
        "--reprocess", help="Run every datum again, even unchanged ones.")] = False,
    output: Output = OutputFormat.table,
) -> None:
    """Run a job over the input branches' heads (only changed datums run)."""
    from flowyard.cli.output import print_data
    from flowyard.data.pipelines import DataPipelines
    from flowyard.errors import RunFailed

    with _local_store("data pipeline") as ds:
        job = DataPipelines(ds).run(name, reprocess=reprocess)
    if output is not OutputFormat.table:
        print_data(job.to_dict(), output)
    else:
        s = job.stats
        typer.echo(f"job {job.id} {job.state}: {s['datums']} datums, {s['processed']} processed, "
                   f"{s['skipped']} skipped, {s['failed']} failed"
                   + (f"; output commit {job.output_commit}" if job.output_commit else ""))
        for w in job.warnings:
            typer.echo(f"warning: {w}", err=True)
    if job.state != "Succeeded":
        raise RunFailed(job.error or f"job {job.id} failed",
                        hint=f"see the datum logs: flowyard data pipeline jobs {name} -o json")


@pipeline_app.command("jobs")
def pipeline_jobs(
    name: Annotated[str, typer.Argument(help="Pipeline name.", show_default=False)],
    output: Output = OutputFormat.table,
) -> None:
    """A pipeline's jobs, newest first, with datum counts and failures."""
    from flowyard.cli.output import print_data, when
    from flowyard.data.pipelines import DataPipelines

    with _local_store("data pipeline") as ds:
        pipes = DataPipelines(ds)
        pipes.get(name)
        jobs = pipes.jobs(name)
    if output is not OutputFormat.table:
        print_data([j.to_dict() for j in jobs], output)
        return
    table = _table("JOB", "STATE", "STARTED", "DATUMS", "PROCESSED", "SKIPPED", "FAILED",
                   "OUTPUT")
    for j in jobs:
        s = j.stats
        table.add_row(j.id, j.state, when(j.created_at), str(s["datums"]), str(s["processed"]),
                      str(s["skipped"]), str(s["failed"]), j.output_commit or "-")
    _console().print(table)


@pipeline_app.command("delete")
def pipeline_delete(
    name: Annotated[str, typer.Argument(help="Pipeline name.", show_default=False)],
) -> None:
    """Delete a data pipeline (its output repo stays)."""
    from flowyard.data.pipelines import DataPipelines

    with _local_store("data pipeline") as ds:
        DataPipelines(ds).delete(name)
    typer.echo(f"deleted data pipeline {name}")


class _Bar:
    """A rich progress bar on a terminal (bytes done of total); silent elsewhere."""

    def __init__(self, console: Any, label: str) -> None:
        self.console = console
        self.label = label
        self._progress: Any = None
        self._task: Any = None
        self._last = 0.0

    def __enter__(self) -> _Bar:
        if self.console.is_terminal:
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self._progress = Progress(
                "{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                TimeRemainingColumn(), console=self.console, transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task(self.label, total=None)
        return self

    def update(self, done: int, total: int) -> None:
        if self._progress is None:
            return
        import time

        now = time.monotonic()
        if now - self._last < 0.1 and done < total:
            return
        self._last = now
        self._progress.update(self._task, completed=done, total=total or None)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
