"""Volume -> PersistentVolumeClaim, VolumeSnapshot -> snapshot.storage.k8s.io/v1 VolumeSnapshot.

Specs: https://kubernetes.io/docs/concepts/storage/persistent-volumes/#persistentvolumeclaims
(a claim's `dataSource` may name a VolumeSnapshot, which the CSI driver restores) and
https://kubernetes.io/docs/concepts/storage/volume-snapshots/ (a snapshot of a bound claim in
the same namespace). Both need a CSI driver with snapshot support on the cluster.

A claim is named after its Volume, so a snapshot, a notebook or a step finds it by the
Volume's name. `source.data` (start from a data commit) is an error here: a Job filling the
claim would race the notebooks mounting it, and nothing on the cluster waits for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flowyard.errors import InvalidInput
from flowyard.kube.context import Manifest, RenderContext
from flowyard.resources.volume import Volume, VolumeSnapshot

SNAPSHOT_API = "snapshot.storage.k8s.io/v1"


def claim_name(volume: str) -> str:
    """The PersistentVolumeClaim of a Volume (its own name)."""
    return volume


def step_mount_path(volume: str) -> str:
    """Where a pipeline step finds a Volume attached without a mountPath."""
    return f"/flowyard/volumes/{volume}"


def build_claim(volume: Volume, ctx: RenderContext, where: str,
                snapshots: Mapping[str, VolumeSnapshot]) -> Manifest:
    """The claim a Volume becomes; a `source.snapshot` restores from that VolumeSnapshot."""
    spec = volume.spec
    who = f"Volume {volume.name!r}"
    body: dict[str, Any] = {
        "accessModes": ["ReadWriteMany" if spec.shared else "ReadWriteOnce"],
        "resources": {"requests": {"storage": spec.size}},
    }
    if spec.storage_class_name:
        body["storageClassName"] = spec.storage_class_name
    source = spec.source
    if source is not None and source.data is not None:
        raise ctx.unsupported(
            f"starting a volume from a data commit (source.data: {source.data!r})", who,
            f"{where} spec.source.data",
            hint="leave source out and fetch the files from inside the notebook (with "
                 f"Flowyard installed there: `flowyard data get {source.data} <mountPath>`), "
                 "or start from a VolumeSnapshot with source.snapshot")
    if source is not None and source.snapshot is not None:
        if source.snapshot not in snapshots:
            # It may have been taken on the cluster; say so rather than refuse.
            ctx.warnings.append(
                f"{who} ({where}): source snapshot {source.snapshot!r} is not declared in the "
                f"project; it must exist in namespace {ctx.namespace!r} before the claim binds")
        body["dataSource"] = {"apiGroup": SNAPSHOT_API.split("/")[0], "kind": "VolumeSnapshot",
                              "name": source.snapshot}
    meta = ctx.meta(claim_name(volume.name), volume.name, "Volume")
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta,
            "spec": body}


def build_snapshot(snapshot: VolumeSnapshot, ctx: RenderContext, where: str,
                   volumes: Mapping[str, Volume]) -> Manifest:
    """A VolumeSnapshot of the claim of the Volume it names (which must be declared)."""
    volume = snapshot.spec.volume
    if volume not in volumes:
        known = ", ".join(sorted(volumes)) or "none"
        raise InvalidInput(
            f"VolumeSnapshot {snapshot.name!r} ({where}) in environment {ctx.env_name!r}: "
            f"spec.volume names Volume {volume!r}, which the project does not declare "
            f"(declared: {known})",
            hint=f"declare Volume {volume!r} in a component file, or fix spec.volume")
    source = volumes[volume].spec.source
    if source is not None and source.snapshot == snapshot.name:
        raise ctx.unsupported(
            f"a snapshot of a volume restored from that same snapshot ({volume!r})",
            f"VolumeSnapshot {snapshot.name!r}", f"{where} spec.volume",
            hint="snapshot a different volume, or give the volume another source")
    spec: dict[str, Any] = {"source": {"persistentVolumeClaimName": claim_name(volume)}}
    if ctx.env.volume_snapshot_class:
        spec["volumeSnapshotClassName"] = ctx.env.volume_snapshot_class
    meta = ctx.meta(snapshot.name, snapshot.name, "VolumeSnapshot")
    return {"apiVersion": SNAPSHOT_API, "kind": "VolumeSnapshot", "metadata": meta,
            "spec": spec}
