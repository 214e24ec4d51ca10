"""The `Notebook` kind: a Jupyter server for one user of a profile.

    apiVersion: flowyard.dev/v1alpha1
    kind: Notebook
    metadata: {name: explore, namespace: team-a}
    spec:
      environment: scientific          # a name from flowyard.notebooks.environments
      resources: {cpu: "2", memory: 4Gi, gpu: 0}
      volumes:
        - {name: datasets, mountPath: /data, readOnly: true}
      idleTimeout: 1h                  # culled after this long without activity
      workspace: explore-ws            # optional; default: the notebook's own folder

Locally, resources are recorded (they size the Kubernetes pod later) but not enforced.
"""

from __future__ import annotations

import re
from typing import ClassVar

from pydantic import Field, ValidationInfo, field_validator

from flowyard.notebooks.environments import available, catalog
from flowyard.resources.base import DNS1123_LABEL, FlowModel, Resource
from flowyard.resources.pipeline import Duration

_CPU = re.compile(r"^(\d+(\.\d+)?|\d+m)$")
_MEMORY = re.compile(r"^\d+(\.\d+)?(Ki|Mi|Gi|Ti|K|M|G|T)?$")


def _label(value: str) -> str:
    if len(value) > 63 or not DNS1123_LABEL.match(value):
        raise ValueError("must be a DNS-1123 label: lower-case letters, digits or '-'")
    return value


class NotebookResources(FlowModel):
    cpu: str | None = None
    memory: str | None = None
    gpu: int = Field(default=0, ge=0)

    @field_validator("cpu", mode="before")
    @classmethod
    def _cpu(cls, value: object) -> object:
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if value is not None and (not isinstance(value, str) or not _CPU.match(value)):
            raise ValueError("cpu is a core count ('2', '0.5') or millicores ('500m')")
        return value

    @field_validator("memory")
    @classmethod
    def _memory(cls, value: str | None) -> str | None:
        if value is not None and not _MEMORY.match(value):
            raise ValueError("memory is bytes with an optional unit, e.g. '512Mi', '4Gi'")
        return value


class VolumeMount(FlowModel):
    name: str
    mount_path: str
    read_only: bool = False

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _label(value)

    @field_validator("mount_path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("mountPath must be an absolute path, e.g. '/data'")
        return value


class NotebookSpec(FlowModel):
    environment: str = "python"
    resources: NotebookResources = Field(default_factory=NotebookResources)
    volumes: list[VolumeMount] = Field(default_factory=list)
    idle_timeout: Duration = 3600.0
    workspace: str | None = None

    @field_validator("environment")
    @classmethod
    def _known(cls, value: str, info: ValidationInfo) -> str:
        # A stored notebook was checked by the platform against *its* catalog, which may
        # have entries (FLOWYARD_NOTEBOOK_ENVIRONMENTS) this process does not know.
        stored = isinstance(info.context, dict) and info.context.get("stored")
        if value not in catalog() and not stored:
            raise ValueError(
                f"unknown notebook environment {value!r}; available: {', '.join(available())}"
            )
        return value

    @field_validator("workspace")
    @classmethod
    def _workspace(cls, value: str | None) -> str | None:
        return None if value is None else _label(value)

    @field_validator("volumes")
    @classmethod
    def _unique(cls, value: list[VolumeMount]) -> list[VolumeMount]:
        seen: set[str] = set()
        for mount in value:
            if mount.mount_path in seen:
                raise ValueError(f"two volumes mounted at {mount.mount_path!r}")
            seen.add(mount.mount_path)
        return value


class Notebook(Resource[NotebookSpec]):
    KIND: ClassVar[str] = "Notebook"
    kind: str = "Notebook"
    spec: NotebookSpec = Field(default_factory=NotebookSpec)
