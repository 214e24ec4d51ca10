"""The environment's S3 artifact repository as the ConfigMap Argo reads it from.

Spec: https://argo-workflows.readthedocs.io/en/latest/artifact-repository-ref/ (a ConfigMap
whose keys each hold one repository; Workflows name it with `artifactRepositoryRef`).
"""

from __future__ import annotations

from typing import Any

import yaml

from flowyard.kube.context import ARTIFACT_REPOSITORIES, Manifest, RenderContext


def build_artifact_repository(ctx: RenderContext) -> Manifest | None:
    repo = ctx.env.artifact_repository
    if repo is None:
        return None
    s3 = repo.s3
    body: dict[str, Any] = {"bucket": s3.bucket,
                            "keyFormat": f"{s3.key_prefix}/{{{{workflow.name}}}}/{{{{pod.name}}}}"}
    if s3.endpoint:
        body["endpoint"] = s3.endpoint
    if s3.region:
        body["region"] = s3.region
    if s3.insecure:
        body["insecure"] = True
    if s3.secret is not None:
        body["accessKeySecret"] = {"name": s3.secret.name, "key": s3.secret.access_key}
        body["secretKeySecret"] = {"name": s3.secret.name, "key": s3.secret.secret_key}
    meta = ctx.meta(ARTIFACT_REPOSITORIES, ARTIFACT_REPOSITORIES, "ArtifactRepository")
    meta["annotations"] = {"workflows.argoproj.io/default-artifact-repository": "default"}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta,
            "data": {"default": yaml.safe_dump({"s3": body}, sort_keys=False)}}
