"""`flowyard volume ...`: workspaces (volumes), their snapshots, restores and data commits.

Registered in main.py as `app.add_typer(volume_cmd.app, name="volume")`. Without a server the
work happens in this process (`flowyard.volumes.Volumes` on the embedded stores); with
`--server` the command applies `Volume` / `VolumeSnapshot` resources and waits for the
platform's volume controller to report them Ready or Failed; `commit` asks the platform to
write the data commit next to its stores (`client/volumes.py`).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

from flowyard.cli.output import OutputFormat

if TYPE_CHECKING:
    from flowyard.client import Client
    from flowyard.resources.base import Resource
    from flowyard.volumes import Volumes

app = typer.Typer(
    help="Volumes: workspaces for notebooks and steps, with content-addressed snapshots.",
    no_args_is_help=True,
)

Output = Annotated[OutputFormat, typer.Option("--output", "-o", help="Output format.")]
Namespace = Annotated[str | None, typer.Option(
    "--namespace", "-n", help="Profile (namespace); default FLOWYARD_NAMESPACE.")]
Wait = Annotated[float, typer.Option(
    "--wait", help="With --server: seconds to wait for the platform to finish.")]
VolumeName = Annotated[str, typer.Argument(help="Volume name (a DNS-1123 label).",
                                           show_default=False)]
SnapshotName = Annotated[str, typer.Argument(help="Snapshot name.", show_default=False)]
TERMINAL = ("Ready", "Failed")


def _client() -> Client:
    from flowyard.client import Client

    return Client()


def _local(client: Client) -> Volumes | None:
    """The library on the embedded stores, or None when a platform does the work."""
    from flowyard.client.embedded import EmbeddedTransport
    from flowyard.volumes import Volumes

    transport = client.transport
    if isinstance(transport, EmbeddedTransport):
        return Volumes(transport.metadata, transport.objects, client.settings)
    return None


def _wait(client: Client, kind: str, name: str, profile: str, timeout: float) -> Resource[Any]:
    """Poll until the controller reports the resource Ready or Failed."""
    from flowyard.errors import FlowyardError, StoreError

    deadline = time.monotonic() + timeout
    while True:
        res = client.get(kind, name, profile)
        phase = res.status.get("phase")
        if phase == "Failed":
            client.delete(kind, name, profile)  # nothing half-made stays behind
            raise FlowyardError(f"{kind} '{name}' failed: {res.status.get('message')}",
                                hint="fix the cause and run the command again")
        if phase == "Ready":
            return res
        if time.monotonic() > deadline:
            raise StoreError(f"{kind} '{name}' is still {phase or 'Pending'} after "
                             f"{timeout:g}s", hint="check the platform's log, or wait longer "
                             "(--wait) and look again with `flowyard volume list`")
        time.sleep(0.2)


def _absent(client: Client, kind: str, name: str, profile: str) -> None:
    from flowyard.errors import Conflict, NotFound

    try:
        client.get(kind, name, profile)
    except NotFound:
        return
    raise Conflict(f"{kind} '{name}' already exists in profile '{profile}'",
                   hint="pick another name, or delete it first")


def _create(client: Client, volume: Resource[Any], wait: float) -> Resource[Any]:
    from flowyard.resources.volume import Volume

    assert isinstance(volume, Volume)
    local = _local(client)
    if local is not None:
        try:
            return local.create(volume)
        finally:
            local.close()
    _absent(client, "Volume", volume.name, volume.namespace)
    client.apply(volume)
    return _wait(client, "Volume", volume.name, volume.namespace, wait)


def _volume_line(v: Resource[Any]) -> str:
    from flowyard.cli.output import size

    s = v.status
    return (f"volume {v.name} {s.get('phase', 'Pending')}: {s.get('files', 0)} files, "
            f"{size(int(s.get('bytes') or 0))} at {s.get('path', '?')}")


@app.command("create")
def create_command(
    name: VolumeName,
    size: Annotated[str, typer.Option("--size", help="Requested size (the PVC's request on "
                                      "Kubernetes), e.g. 10Gi.")] = "10Gi",
    shared: Annotated[bool, typer.Option("--shared", help="Let several notebooks attach it "
                                         "for writing.")] = False,
    from_snapshot: Annotated[str | None, typer.Option(
        "--from-snapshot", help="Start with the files of this snapshot.")] = None,
    from_data: Annotated[str | None, typer.Option(
        "--from-data", help="Start with the files of a data commit, REPO@REF[:/path].")] = None,
    namespace: Namespace = None,
    wait: Wait = 600.0,
    output: Output = OutputFormat.table,
) -> None:
    """Create a volume (empty, or from a snapshot or a data commit)."""
    from flowyard.errors import InvalidInput
    from flowyard.volumes import volume_resource

    if from_snapshot and from_data:
        raise InvalidInput("give at most one of --from-snapshot and --from-data",
                           hint="a volume starts from one source")
    with _client() as client:
        profile = namespace or client.settings.namespace
        volume = volume_resource(name, profile, size=size, shared=shared,
                                 snapshot=from_snapshot, data=from_data)
        made = _create(client, volume, wait)
    _show(made, output)


@app.command("restore")
def restore_command(
    snapshot: SnapshotName,
    new_volume: Annotated[str, typer.Argument(help="Name of the new volume.",
                                              show_default=False)],
    shared: Annotated[bool, typer.Option("--shared")] = False,
    size: Annotated[str, typer.Option("--size")] = "10Gi",
    namespace: Namespace = None,
    wait: Wait = 600.0,
    output: Output = OutputFormat.table,
) -> None:
    """Restore a snapshot into a new volume."""
    from flowyard.volumes import volume_resource

    with _client() as client:
        profile = namespace or client.settings.namespace
        made = _create(client, volume_resource(new_volume, profile, size=size, shared=shared,
                                               snapshot=snapshot), wait)
    _show(made, output)


def _show(res: Resource[Any], output: OutputFormat) -> None:
    from flowyard.cli.output import print_data

    if output is OutputFormat.table:
        typer.echo(_volume_line(res) if res.kind == "Volume" else _snapshot_line(res))
    else:
        print_data(res.to_dict(), output)


@app.command("list")
def list_command(namespace: Namespace = None, output: Output = OutputFormat.table) -> None:
    """List volumes with their phase, size and holders."""
    from flowyard.cli.output import print_data, size, stdout_console

    with _client() as client:
        profile = namespace or client.settings.namespace
        items = client.list("Volume", profile)
        local = _local(client)
        held: dict[str, list[str]] = {}
        if local is not None:
            held = {v.name: [f"{c.holder}({c.mode})" for c in local.claims(profile, v.name)]
                    for v in items}
            local.close()
    if output is not OutputFormat.table:
        print_data([v.to_dict() for v in items], output)
        return
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for col in ("NAME", "PHASE", "FILES", "SIZE", "SHARED", "SOURCE", "ATTACHED TO"):
        table.add_column(col)
    for v in items:
        s = v.status
        source = v.spec.source
        text = ("snapshot " + source.snapshot if source and source.snapshot
                else "data " + source.data if source and source.data else "-")
        holders = held.get(v.name) or [f"{a['holder']}({a['mode']})"
                                       for a in s.get("attachments", [])]
        table.add_row(v.name, s.get("phase", "Pending"), str(s.get("files", "-")),
                      size(int(s.get("bytes") or 0)), "yes" if v.spec.shared else "no",
                      text, ", ".join(holders) or "-")
    stdout_console().print(table)


@app.command("delete")
def delete_command(name: VolumeName, namespace: Namespace = None) -> None:
    """Delete a volume and its files (refused while attached). Its snapshots stay."""
    from flowyard.errors import Conflict

    with _client() as client:
        profile = namespace or client.settings.namespace
        local = _local(client)
        if local is not None:
            try:
                local.delete(profile, name)
            finally:
                local.close()
        else:
            vol = client.get("Volume", name, profile)
            holders = vol.status.get("attachments") or []
            if holders:
                raise Conflict(
                    f"volume '{name}' in profile '{profile}' is attached to "
                    + ", ".join(f"{h['holder']} ({h['mode']})" for h in holders)
                    + "; it was not deleted",
                    hint="stop the notebooks or runs using it, then delete it")
            client.delete("Volume", name, profile)
    typer.echo(f"deleted volume {name}")


@app.command("snapshot")
def snapshot_command(
    volume: VolumeName,
    name: Annotated[str | None, typer.Option(
        "--name", help="Snapshot name; default VOLUME-YYYYMMDD-HHMMSS.")] = None,
    namespace: Namespace = None,
    wait: Wait = 3600.0,
    output: Output = OutputFormat.table,
) -> None:
    """Snapshot a volume: unchanged files cost nothing and are not read again."""
    from flowyard.resources.loader import parse_resource
    from flowyard.volumes.manager import default_snapshot_name

    with _client() as client:
        profile = namespace or client.settings.namespace
        local = _local(client)
        snap: Resource[Any]
        if local is not None:
            try:
                snap = local.snapshot(profile, volume, name)
            finally:
                local.close()
        else:
            name = name or default_snapshot_name(volume)
            vol = client.get("Volume", volume, profile)
            if vol.status.get("phase") != "Ready":
                from flowyard.errors import Conflict

                raise Conflict(f"volume '{volume}' is {vol.status.get('phase', 'Pending')}, "
                               "not Ready", hint="wait until it is Ready")
            _absent(client, "VolumeSnapshot", name, profile)
            client.apply(parse_resource({
                "apiVersion": "flowyard.dev/v1alpha1", "kind": "VolumeSnapshot",
                "metadata": {"name": name, "namespace": profile}, "spec": {"volume": volume}}))
            snap = _wait(client, "VolumeSnapshot", name, profile, wait)
    _show(snap, output)


def _snapshot_line(s: Resource[Any]) -> str:
    from flowyard.cli.output import size

    st = s.status
    return (f"snapshot {s.name} of volume {st.get('volume')}: {st.get('files', 0)} files, "
            f"{size(int(st.get('bytes') or 0))}, {size(int(st.get('newBytes') or 0))} new, "
            f"digest {st.get('digest') or '-'}")


@app.command("snapshots")
def snapshots_command(
    volume: Annotated[str | None, typer.Argument(help="Only this volume's snapshots.",
                                                 show_default=False)] = None,
    namespace: Namespace = None,
    output: Output = OutputFormat.table,
) -> None:
    """List snapshots (of one volume, or all)."""
    from flowyard.cli.output import print_data, size, stdout_console

    with _client() as client:
        profile = namespace or client.settings.namespace
        items = [s for s in client.list("VolumeSnapshot", profile)
                 if volume is None or s.spec.volume == volume]
    items.sort(key=lambda s: (str(s.status.get("createdAt", "")), s.name))
    if output is not OutputFormat.table:
        print_data([s.to_dict() for s in items], output)
        return
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for col in ("NAME", "VOLUME", "PHASE", "FILES", "SIZE", "NEW", "CREATED", "DIGEST"):
        table.add_column(col)
    for s in items:
        st = s.status
        table.add_row(s.name, s.spec.volume, st.get("phase", "Pending"),
                      str(st.get("files", "-")), size(int(st.get("bytes") or 0)),
                      size(int(st.get("newBytes") or 0)), str(st.get("createdAt", "-")),
                      str(st.get("digest") or "-")[:19])
    stdout_console().print(table)


@app.command("delete-snapshot")
def delete_snapshot_command(snapshot: SnapshotName, namespace: Namespace = None) -> None:
    """Forget a snapshot (its commit stays in the volumes.<profile> data repo)."""
    with _client() as client:
        client.delete("VolumeSnapshot", snapshot, namespace or client.settings.namespace)
    typer.echo(f"deleted snapshot {snapshot}")


@app.command("commit")
def commit_command(
    snapshot: SnapshotName,
    target: Annotated[str, typer.Argument(
        help="REPO@BRANCH[:/path]: where the snapshot's files go (replacing the path).",
        show_default=False)],
    message: Annotated[str, typer.Option("--message", "-m")] = "",
    namespace: Namespace = None,
    output: Output = OutputFormat.table,
) -> None:
    """Commit a snapshot into a data repo (no bytes copied; provenance = the snapshot)."""
    from flowyard.cli.output import print_data
    from flowyard.client.http import HttpTransport
    from flowyard.client.volumes import commit_snapshot

    with _client() as client:
        profile = namespace or client.settings.namespace
        local = _local(client)
        if local is not None:
            try:
                commit = local.commit(profile, snapshot, target, message=message)
            finally:
                local.close()
        else:
            assert isinstance(client.transport, HttpTransport)
            commit = commit_snapshot(client.transport, profile, snapshot, target,
                                     message=message)
    if output is not OutputFormat.table:
        print_data(commit.to_dict() if commit else {"commit": None, "changed": False}, output)
    elif commit is None:
        typer.echo(f"{target} already holds snapshot {snapshot}'s files, committed from "
                   "it; no new commit")
    else:
        typer.echo(f"committed snapshot {snapshot} as {commit.repo}@{commit.id} "
                   f"({commit.files} files)")
