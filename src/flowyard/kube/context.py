"""What every builder needs to know about the environment it renders for."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flowyard.kube.errors import Unsupported
from flowyard.kube.names import labels
from flowyard.kube.project import Environment

Manifest = dict[str, Any]

ARTIFACT_REPOSITORIES = "flowyard-artifact-repositories"
"""The ConfigMap Argo reads the S3 artifact repository from (artifactRepositoryRef)."""


@dataclass
class RenderContext:
    env_name: str
    env: Environment
    template: bool = False
    """Render Pipelines as WorkflowTemplates instead of Workflows."""
    warnings: list[str] = field(default_factory=list)
    volumes: dict[str, Any] = field(default_factory=dict)
    """The project's Volumes by name (flowyard.resources.volume.Volume), which notebooks,
    snapshots and pipeline steps refer to."""

    @property
    def namespace(self) -> str:
        return self.env.namespace or "default"

    def meta(self, name: str, resource: str, kind: str) -> dict[str, Any]:
        return {"name": name, "namespace": self.namespace,
                "labels": labels(resource, kind, self.env_name)}

    def unsupported(self, feature: str, resource: str, where: str = "",
                    hint: str | None = None) -> Unsupported:
        return Unsupported(feature, resource=resource, environment=self.env_name, where=where,
                           hint=hint)
