"""The `Volume` and `VolumeSnapshot` kinds: workspaces that outlive the notebook or step using them.

    apiVersion: flowyard.dev/v1alpha1
    kind: Volume
    metadata: {name: explore-ws, namespace: team-a}
    spec:
      size: 10Gi                      # the PersistentVolumeClaim's request on Kubernetes
      shared: false                   # true: several notebooks may attach it for writing
      storageClassName: standard      # optional, Kubernetes only
      source:                         # optional: what the new volume starts with
        snapshot: explore-ws-monday   # a VolumeSnapshot of this profile, or
        # data: raw@master:/images    # files of a data commit
    ---
    kind: VolumeSnapshot
    metadata: {name: explore-ws-monday, namespace: team-a}
    spec: {volume: explore-ws}

Locally a volume is a folder under the Flowyard home and a snapshot is a tree of
content-addressed blobs, so a snapshot of unchanged files stores nothing new. On Kubernetes a
volume renders to a PersistentVolumeClaim (ReadWriteMany when shared) and a snapshot to a
VolumeSnapshot of that claim.
"""

from __future__ import annotations

import re
from typing import ClassVar

from pydantic import Field, field_validator, model_validator

from flowyard.resources.base import DNS1123_LABEL, FlowModel, Resource

_QUANTITY = re.compile(r"^\d+(\.\d+)?(Ki|Mi|Gi|Ti|Pi|K|M|G|T|P)?$")


def _label(value: str) -> str:
    if len(value) > 63 or not DNS1123_LABEL.match(value):
        raise ValueError("must be a DNS-1123 label: lower-case letters, digits or '-'")
    return value


class VolumeSource(FlowModel):
    """Exactly one of `snapshot` (a VolumeSnapshot name) or `data` (repo@ref[:/path])."""

    snapshot: str | None = None
    data: str | None = None

    @field_validator("snapshot")
    @classmethod
    def _snapshot(cls, value: str | None) -> str | None:
        return None if value is None else _label(value)

    @field_validator("data")
    @classmethod
    def _data(cls, value: str | None) -> str | None:
        if value is not None and "@" not in value:
            raise ValueError("data is 'repo@ref' or 'repo@ref:/path', e.g. 'raw@master:/images'")
        return value

    @model_validator(mode="after")
    def _one(self) -> VolumeSource:
        if (self.snapshot is None) == (self.data is None):
            raise ValueError("give exactly one of 'snapshot' or 'data'")
        return self


class VolumeSpec(FlowModel):
    size: str = "10Gi"
    shared: bool = False
    storage_class_name: str | None = None
    source: VolumeSource | None = None

    @field_validator("size")
    @classmethod
    def _size(cls, value: str) -> str:
        if not _QUANTITY.match(value):
            raise ValueError("size is bytes with an optional unit, e.g. '512Mi', '10Gi'")
        return value


class Volume(Resource[VolumeSpec]):
    KIND: ClassVar[str] = "Volume"
    kind: str = "Volume"
    spec: VolumeSpec = Field(default_factory=VolumeSpec)


class VolumeSnapshotSpec(FlowModel):
    volume: str

    @field_validator("volume")
    @classmethod
    def _volume(cls, value: str) -> str:
        return _label(value)


class VolumeSnapshot(Resource[VolumeSnapshotSpec]):
    KIND: ClassVar[str] = "VolumeSnapshot"
    kind: str = "VolumeSnapshot"
    spec: VolumeSnapshotSpec
