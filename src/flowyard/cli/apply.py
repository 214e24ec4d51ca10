"""kubectl-like resource commands: `apply -f`, `delete -f`, `get KIND [NAME]`, `describe`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from flowyard.cli.output import OutputFormat, print_data, stdout_console

if TYPE_CHECKING:
    from flowyard.resources.base import Resource

Files = Annotated[list[Path], typer.Option("--filename", "-f",
                                           help="A resource file or a folder of them "
                                                "(repeatable).")]
Namespace = Annotated[str | None, typer.Option("--namespace", "-n",
                                               help="Namespace (profile); default "
                                                    "FLOWYARD_NAMESPACE.")]


def resolve_kind(text: str) -> str:
    """`Pipeline`, `pipeline`, `pipelines`, `inferencegraph`... -> the kind's name."""
    from flowyard.errors import InvalidInput
    from flowyard.resources import KINDS

    wanted = text.lower()
    for kind in KINDS:
        if wanted in (kind.lower(), kind.lower() + "s"):
            return kind
    raise InvalidInput(f"unknown kind {text!r}", hint=f"known kinds: {', '.join(sorted(KINDS))}")


def apply_command(filenames: Files, namespace: Namespace = None) -> None:
    """Create or update the resources in files or folders (validated first, all or none)."""
    from flowyard.client import Client

    with Client() as client:
        resources = client.validate(filenames)
        if namespace:
            for res in resources:
                res.metadata.namespace = namespace
        for res in client.apply(resources):
            typer.echo(f"{res.kind.lower()}/{res.name} applied (namespace {res.namespace}, "
                       f"generation {res.metadata.generation})")


def delete_command(filenames: Files, namespace: Namespace = None) -> None:
    """Delete the resources named in files or folders."""
    from flowyard.client import Client

    with Client() as client:
        for res in client.validate(filenames):
            ns = namespace or (res.namespace if "namespace" in res.metadata.model_fields_set
                               else None)
            client.delete(res.kind, res.name, ns)
            typer.echo(f"{res.kind.lower()}/{res.name} deleted")


def get_command(
    kind: Annotated[str, typer.Argument(help="Pipeline, InferenceGraph or DataPipeline "
                                             "(any case, plural too).")],
    name: Annotated[str | None, typer.Argument(help="One resource; all when omitted.")] = None,
    namespace: Namespace = None,
    all_namespaces: Annotated[bool, typer.Option("--all-namespaces", "-A")] = False,
    selector: Annotated[str | None, typer.Option("--selector", "-l",
                                                 help="key=value[,key=value]")] = None,
    output: Annotated[OutputFormat, typer.Option("--output", "-o")] = OutputFormat.table,
) -> None:
    """List resources of a kind, or show one."""
    from flowyard.client import Client

    kind = resolve_kind(kind)
    with Client() as client:
        if name is not None:
            items = [client.get(kind, name, namespace)]
        else:
            ns = None if all_namespaces else (namespace or client.settings.namespace)
            items = client.list(kind, ns, _labels(selector))
    if output is not OutputFormat.table:
        data: Any = [r.to_dict() for r in items]
        print_data(data[0] if name is not None else data, output)
        return
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for column in ("NAMESPACE", "NAME", "GENERATION", "STATUS", "LABELS"):
        table.add_column(column)
    for res in items:
        labels = ",".join(f"{k}={v}" for k, v in res.metadata.labels.items())
        table.add_row(res.namespace, res.name, str(res.metadata.generation or ""),
                      _status(res), labels)
    stdout_console().print(table)


def describe_command(
    kind: Annotated[str, typer.Argument(help="The resource's kind.")],
    name: Annotated[str, typer.Argument(help="The resource's name.")],
    namespace: Namespace = None,
) -> None:
    """Show one resource in full: metadata, spec and the status the platform wrote."""
    import yaml

    from flowyard.client import Client

    kind = resolve_kind(kind)
    with Client() as client:
        res = client.get(kind, name, namespace)
    meta = res.metadata
    lines = [f"Name:        {meta.name}", f"Namespace:   {meta.namespace}",
             f"Kind:        {res.kind}", f"Generation:  {meta.generation}",
             f"Created:     {meta.creation_timestamp or '-'}"]
    if meta.labels:
        lines.append("Labels:      " + ", ".join(f"{k}={v}" for k, v in meta.labels.items()))
    lines.append(f"Status:      {_status(res)}")
    for key, value in res.status.items():
        lines.append(f"  {key}: {value}")
    lines.append("Spec:")
    spec = res.to_dict().get("spec", {})
    lines.extend("  " + line for line in yaml.safe_dump(spec, sort_keys=False).splitlines())
    typer.echo("\n".join(lines))


def _status(res: Resource[Any]) -> str:
    status = res.status
    if not status:
        return "-"
    if "ready" in status:
        return ("Ready " + str(status.get("url", ""))).strip() if status["ready"] else \
            f"NotReady: {status.get('reason') or 'starting'}"
    return str(status.get("state", "-"))


def _labels(selector: str | None) -> dict[str, str] | None:
    from flowyard.errors import InvalidInput

    if not selector:
        return None
    labels: dict[str, str] = {}
    for term in selector.split(","):
        key, sep, value = term.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"--selector term {term!r} is not key=value",
                               hint="e.g. -l team=vision,stage=prod")
        labels[key.strip()] = value.strip()
    return labels
