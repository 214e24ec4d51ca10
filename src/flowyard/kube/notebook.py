"""Notebook -> Kubeflow `kubeflow.org/v1 Notebook`, its workspace claim and its route.

Spec: the notebook controller's CRD (https://github.com/kubeflow/notebooks, components/
notebook-controller). The controller runs the pod template as a StatefulSet, sets
`NB_PREFIX=/notebook/<namespace>/<name>` (Kubeflow's images serve Jupyter under it), and puts
a Service named after the notebook on port 80 in front of container port 8888; the route
sends `/notebook/<namespace>/<name>/` there, prefix kept, websockets allowed. On Kubernetes
a notebook's profile is the environment's namespace.

Idle culling: Kubeflow's culler keeps `notebooks.kubeflow.org/last-activity` up to date and
stops a notebook (annotation `kubeflow-resource-stopped`) after the controller-wide
`CULL_IDLE_TIME`; it has no per-notebook timeout. The notebook's own `idleTimeout` is kept
in the annotation `flowyard.dev/idle-timeout` and rendering says when it differs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flowyard.errors import InvalidInput
from flowyard.kube.context import Manifest, RenderContext
from flowyard.kube.routes import build_route
from flowyard.kube.volumes import claim_name
from flowyard.notebooks.environments import get_environment
from flowyard.resources.notebook import Notebook
from flowyard.resources.volume import Volume, VolumeSpec

NOTEBOOK_API = "kubeflow.org/v1"
PORT = 8888
"""Jupyter's port in Kubeflow's images; the controller's Service targets it."""
SERVICE_PORT = 80
HOME = "/home/jovyan"
"""The workspace mount: the home folder of Kubeflow's images (user jovyan)."""
GPU_RESOURCE = "nvidia.com/gpu"
IDLE_ANNOTATION = "flowyard.dev/idle-timeout"
KUBEFLOW_CULL_IDLE_SECONDS = 1440 * 60
"""The notebook controller's default CULL_IDLE_TIME (one day, in seconds)."""


def notebook_prefix(namespace: str, name: str) -> str:
    return f"/notebook/{namespace}/{name}/"


def workspace_claim(notebook: Notebook) -> str:
    """The claim of the notebook's home folder: its `workspace` Volume, or its own."""
    return claim_name(notebook.spec.workspace or f"{notebook.name}-workspace")


def build_notebook(notebook: Notebook, ctx: RenderContext, where: str,
                   volumes: Mapping[str, Volume]) -> list[Manifest]:
    """The Notebook, a workspace claim when it names no workspace Volume, and its route."""
    spec = notebook.spec
    who = f"Notebook {notebook.name!r}"
    environment = get_environment(spec.environment)
    image = environment.image
    resources: dict[str, dict[str, Any]] = {}
    if spec.resources.cpu:
        resources.setdefault("requests", {})["cpu"] = spec.resources.cpu
        resources.setdefault("limits", {})["cpu"] = spec.resources.cpu
    if spec.resources.memory:
        resources.setdefault("requests", {})["memory"] = spec.resources.memory
        resources.setdefault("limits", {})["memory"] = spec.resources.memory
    if spec.resources.gpu:
        if environment.gpu_image is None:
            with_gpu = sorted(n for n, e in _catalog().items() if e.gpu_image)
            raise ctx.unsupported(
                f"GPUs (resources.gpu: {spec.resources.gpu}) in notebook environment "
                f"{environment.name!r}, whose image has no CUDA variant", who,
                f"{where} spec.resources.gpu",
                hint=f"use an environment with a GPU image ({', '.join(with_gpu)}) or set "
                     "resources.gpu to 0")
        image = environment.gpu_image
        resources.setdefault("limits", {})[GPU_RESOURCE] = spec.resources.gpu
    if spec.workspace:
        _declared(notebook, spec.workspace, "spec.workspace", where, volumes, ctx)
    mounts: list[dict[str, Any]] = [{"name": "workspace", "mountPath": HOME}]
    pod_volumes: list[dict[str, Any]] = [
        {"name": "workspace", "persistentVolumeClaim": {"claimName": workspace_claim(notebook)}}]
    for i, mount in enumerate(spec.volumes):
        _declared(notebook, mount.name, f"spec.volumes[{i}].name", where, volumes, ctx)
        if mount.name == spec.workspace:
            raise InvalidInput(
                f"{who} ({where}) in environment {ctx.env_name!r}: Volume {mount.name!r} is "
                f"both the workspace and mounted at {mount.mount_path!r}",
                hint="mount a volume once: drop it from spec.volumes or from spec.workspace")
        if mount.mount_path == HOME:
            raise InvalidInput(
                f"{who} ({where}) in environment {ctx.env_name!r}: spec.volumes[{i}] mounts "
                f"Volume {mount.name!r} at {HOME}, where the workspace is mounted",
                hint=f"choose another mountPath, or make {mount.name!r} the workspace")
        volume_name = f"vol-{mount.name}"
        entry: dict[str, Any] = {"name": volume_name, "mountPath": mount.mount_path}
        claim: dict[str, Any] = {"claimName": claim_name(mount.name)}
        if mount.read_only:
            entry["readOnly"] = True
            claim["readOnly"] = True
        mounts.append(entry)
        pod_volumes.append({"name": volume_name, "persistentVolumeClaim": claim})
    container: dict[str, Any] = {
        # The controller reports the state of the container named after the notebook.
        "name": notebook.name, "image": image,
        "ports": [{"name": "notebook-port", "containerPort": PORT, "protocol": "TCP"}],
        "volumeMounts": mounts,
    }
    if resources:
        container["resources"] = resources
    if ctx.env.image_pull_policy:
        container["imagePullPolicy"] = ctx.env.image_pull_policy
    meta = ctx.meta(notebook.name, notebook.name, "Notebook")
    meta["annotations"] = {IDLE_ANNOTATION: str(round(spec.idle_timeout))}
    culling = (f"notebooks' idleTimeout is kept as annotation {IDLE_ANNOTATION}; Kubeflow "
               "culls after the notebook controller's CULL_IDLE_TIME (minutes, one value for "
               "all notebooks; culling needs ENABLE_CULLING=true on the controller)")
    if round(spec.idle_timeout) != KUBEFLOW_CULL_IDLE_SECONDS and culling not in ctx.warnings:
        ctx.warnings.append(culling)
    objects: list[Manifest] = [{
        "apiVersion": NOTEBOOK_API, "kind": "Notebook", "metadata": meta,
        "spec": {"template": {"spec": {"containers": [container],
                                       "volumes": pod_volumes}}}}]
    if not spec.workspace:
        claim_meta = ctx.meta(workspace_claim(notebook), notebook.name, "Notebook")
        objects.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                        "metadata": claim_meta,
                        "spec": {"accessModes": ["ReadWriteOnce"],
                                 "resources": {"requests": {"storage": VolumeSpec().size}}}})
    prefix = notebook_prefix(ctx.namespace, notebook.name)
    objects.append(build_route(f"notebook-{notebook.name}", notebook.name, "Notebook", prefix,
                               notebook.name, SERVICE_PORT, ctx, rewrite=prefix,
                               websocket=True))
    return objects


def _declared(notebook: Notebook, volume: str, field: str, where: str,
              volumes: Mapping[str, Volume], ctx: RenderContext) -> None:
    if volume not in volumes:
        known = ", ".join(sorted(volumes)) or "none"
        raise InvalidInput(
            f"Notebook {notebook.name!r} ({where}) in environment {ctx.env_name!r}: {field} "
            f"names Volume {volume!r}, which the project does not declare (declared: {known})",
            hint=f"declare `kind: Volume` named {volume!r} in a component file, or fix {field}")


def _catalog() -> Mapping[str, Any]:
    from flowyard.notebooks.environments import CATALOG

    return CATALOG
