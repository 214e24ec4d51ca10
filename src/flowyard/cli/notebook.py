"""`flowyard notebook create|list|open|stop|start|restart|delete` (on a platform)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from flowyard.cli.apply import Namespace
from flowyard.cli.output import OutputFormat, print_data, stdout_console

if TYPE_CHECKING:
    from flowyard.resources.notebook import Notebook

app = typer.Typer(help="Notebooks: JupyterLab servers run by the platform, one per "
                       "Notebook resource.", no_args_is_help=True)
Name = Annotated[str, typer.Argument(help="Notebook name.")]
Wait = Annotated[bool, typer.Option("--wait/--no-wait",
                                    help="Wait until the server runs (or fails).")]
Timeout = Annotated[float, typer.Option(help="Seconds to wait, with --wait.")]


def _echo_url(notebook: Notebook, url: str) -> None:
    typer.echo(f"notebook/{notebook.name} running in {notebook.namespace}: {url}")


@app.command("create")
def create_command(
    name: Name,
    env: Annotated[str, typer.Option("--env", "-e",
                                     help="Environment from the catalog (`flowyard notebook "
                                          "environments`).")] = "python",
    namespace: Namespace = None,
    idle_timeout: Annotated[str | None, typer.Option(
        "--idle-timeout", help="Stop after this long without activity: '30m', '2h', "
                               "seconds; default 1h.")] = None,
    cpu: Annotated[str | None, typer.Option(help="CPU for the Kubernetes pod, e.g. '2'.")]
    = None,
    memory: Annotated[str | None, typer.Option(help="Memory for the pod, e.g. '4Gi'.")]
    = None,
    workspace: Annotated[str | None, typer.Option(
        help="A Volume (in the same profile) to use as the workspace.")] = None,
    wait: Wait = True,
    timeout: Timeout = 300.0,
) -> None:
    """Create a notebook; the platform starts it (and its environment on first use)."""
    from flowyard.client import Client

    resources = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    with Client() as client:
        made = client.notebooks.create(name, environment=env, namespace=namespace,
                                       idle_timeout=idle_timeout,
                                       resources=resources or None, workspace=workspace)
        if not wait:
            typer.echo(f"notebook/{made.name} created in {made.namespace}")
            return
        ready = client.notebooks.wait(name, made.namespace, timeout=timeout)
        _echo_url(ready, client.notebooks.url(name, made.namespace))


@app.command("list")
def list_command(
    namespace: Namespace = None,
    all_namespaces: Annotated[bool, typer.Option("--all-namespaces", "-A")] = False,
    output: Annotated[OutputFormat, typer.Option("--output", "-o")] = OutputFormat.table,
) -> None:
    """Notebooks with their phase, environment and last activity."""
    from flowyard.client import Client

    with Client() as client:
        ns = None if all_namespaces else (namespace or client.settings.namespace)
        items = client.notebooks.list(ns)
    if output is not OutputFormat.table:
        print_data([n.to_dict() for n in items], output)
        return
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for column in ("NAMESPACE", "NAME", "ENVIRONMENT", "PHASE", "LAST ACTIVITY", "MESSAGE"):
        table.add_column(column)
    for nb in items:
        status: dict[str, Any] = nb.status or {}
        message = str(status.get("message") or "").splitlines()
        table.add_row(nb.namespace, nb.name, nb.spec.environment,
                      str(status.get("phase") or "Pending"),
                      str(status.get("lastActivity") or "-"),
                      (message[0][:70] if message else ""))
    stdout_console().print(table)


@app.command("open")
def open_command(
    name: Name,
    namespace: Namespace = None,
    browser: Annotated[bool, typer.Option("--browser/--print",
                                          help="Open it in a browser, or only print the "
                                               "URL.")] = False,
) -> None:
    """Print (or open) the notebook's address behind the platform's login."""
    from flowyard.client import Client

    with Client() as client:
        url = client.notebooks.url(name, namespace)
        status = client.notebooks.get(name, namespace).status or {}
    typer.echo(url)
    if status.get("phase") != "Running":
        typer.echo(f"note: the notebook is {status.get('phase') or 'Pending'}"
                   + (" (flowyard notebook start " + name + ")"
                      if status.get("phase") == "Stopped" else ""), err=True)
    if browser:
        import webbrowser

        webbrowser.open(url)


def _act(action: str, name: str, namespace: str | None, wait: bool, timeout: float) -> None:
    from flowyard.client import Client

    with Client() as client:
        notebook = getattr(client.notebooks, action)(name, namespace)
        phase = "Stopped" if action == "stop" else "Running"
        if not wait:
            typer.echo(f"notebook/{name}: {action} requested")
            return
        if action == "restart":
            old = (notebook.status or {}).get("pid")
            _wait_new_pid(client, name, namespace, old, timeout)
        done = client.notebooks.wait(name, notebook.namespace, phase=phase, timeout=timeout)
        if phase == "Running":
            _echo_url(done, client.notebooks.url(name, done.namespace))
        else:
            typer.echo(f"notebook/{name} stopped (workspace kept)")


def _wait_new_pid(client: Any, name: str, namespace: str | None, old: Any,
                  timeout: float) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (client.notebooks.get(name, namespace).status or {}).get("pid") != old:
            return
        time.sleep(0.5)


@app.command("start")
def start_command(name: Name, namespace: Namespace = None, wait: Wait = True,
                  timeout: Timeout = 300.0) -> None:
    """Start a stopped (or culled) notebook on its kept workspace."""
    _act("start", name, namespace, wait, timeout)


@app.command("stop")
def stop_command(name: Name, namespace: Namespace = None, wait: Wait = True,
                 timeout: Timeout = 300.0) -> None:
    """Stop the server and its kernels; the workspace stays."""
    _act("stop", name, namespace, wait, timeout)


@app.command("restart")
def restart_command(name: Name, namespace: Namespace = None, wait: Wait = True,
                    timeout: Timeout = 300.0) -> None:
    """A fresh server (kernels are lost, files stay)."""
    _act("restart", name, namespace, wait, timeout)


@app.command("delete")
def delete_command(
    name: Name,
    namespace: Namespace = None,
    purge: Annotated[bool, typer.Option(help="Also remove its workspace folder.")] = False,
) -> None:
    """Delete the notebook; its workspace is kept unless --purge."""
    from flowyard.client import Client

    with Client() as client:
        client.notebooks.delete(name, namespace, purge=purge)
    typer.echo(f"notebook/{name} deleted" + ("" if purge else " (workspace kept)"))


@app.command("environments")
def environments_command() -> None:
    """The environment catalog: local interpreter and Kubernetes image of each."""
    from flowyard.notebooks.environments import catalog, uses_base

    table_rows = []
    for env in sorted(catalog().values(), key=lambda e: e.name):
        local = ("this interpreter" if uses_base(env)
                 else "own virtualenv (created on first use)")
        table_rows.append((env.name, local, env.image, env.description))
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for column in ("NAME", "LOCAL", "IMAGE", "DESCRIPTION"):
        table.add_column(column)
    for row in table_rows:
        table.add_row(*row)
    stdout_console().print(table)
