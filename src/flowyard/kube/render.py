"""Render a project's components for one environment: manifests in memory, or a folder.

The folder has one file per object (`<kind>-<name>.yaml`, lower case) and a
kustomization.yaml listing them, so operators can patch the output with kustomize.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from flowyard.errors import ConfigError
from flowyard.kube.context import Manifest, RenderContext
from flowyard.kube.project import ProjectFile, Serving, resolve_params
from flowyard.resources.loader import Loaded


@dataclass
class Rendered:
    environment: str
    objects: list[Manifest] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def render_project(pf: ProjectFile, env_name: str, *, template: bool = False) -> Rendered:
    """Every object the project's components become in environment `env_name`."""
    from flowyard.kube.argo_datapipeline import build_data_workflow
    from flowyard.kube.argo_workflow import build_workflow
    from flowyard.kube.artifact_repository import build_artifact_repository
    from flowyard.kube.kserve import build_inference_service
    from flowyard.kube.notebook import build_notebook
    from flowyard.kube.routes import build_graph_route
    from flowyard.kube.seldon import build_seldon_deployment
    from flowyard.kube.volumes import build_claim, build_snapshot
    from flowyard.resources.data_pipeline import DataPipeline
    from flowyard.resources.inference_graph import InferenceGraph
    from flowyard.resources.notebook import Notebook
    from flowyard.resources.pipeline import Pipeline
    from flowyard.resources.volume import Volume, VolumeSnapshot

    env = pf.environment(env_name)
    if env.type == "local":
        raise ConfigError(f"environment {env_name!r} is local: there is nothing to render",
                          hint="render a kubernetes environment; run locally with "
                               "`flowyard run`")
    loaded = pf.load_components()
    from flowyard.pipelines.validate import validate_pipeline

    for item in loaded:  # the same static checks as a local run, before any rendering
        if isinstance(item.resource, Pipeline):
            validate_pipeline(item.resource, item.origin)
    params = resolve_params(pf, loaded, env_name)
    # Notebooks, snapshots and steps refer to volumes by name, wherever they are declared.
    volumes = {i.resource.name: i.resource for i in loaded if isinstance(i.resource, Volume)}
    ctx = RenderContext(env_name, env, template=template, warnings=list(params.warnings),
                        volumes=dict(volumes))
    out = Rendered(env_name)
    snapshots = {i.resource.name: i.resource for i in loaded
                 if isinstance(i.resource, VolumeSnapshot)}
    _warn_single_writer(loaded, volumes, ctx)
    repo = build_artifact_repository(ctx)
    if repo is not None:
        out.objects.append(repo)
    for item in loaded:
        res = item.resource
        where = f"{item.origin.file}:{item.origin.line}"
        if isinstance(res, Pipeline):
            out.objects.append(build_workflow(res, params.plain(res.name), ctx))
        elif isinstance(res, DataPipeline):
            out.objects.append(build_data_workflow(res, ctx, where))
        elif isinstance(res, InferenceGraph):
            if env.serving is Serving.KSERVE:
                out.objects.extend(build_inference_service(res, ctx))
            else:
                out.objects.extend(build_seldon_deployment(res, ctx))
            out.objects.append(build_graph_route(res, ctx))
        elif isinstance(res, Notebook):
            out.objects.extend(build_notebook(res, ctx, where, volumes))
        elif isinstance(res, Volume):
            out.objects.append(build_claim(res, ctx, where, snapshots))
        elif isinstance(res, VolumeSnapshot):
            out.objects.append(build_snapshot(res, ctx, where, volumes))
        else:
            raise ctx.unsupported(f"kind {res.kind}", f"{res.kind} {res.name!r}",
                                  where, hint="this kind has no Kubernetes rendering yet")
    out.warnings = ctx.warnings
    return out


def _warn_single_writer(loaded: list[Loaded], volumes: dict[str, Any],
                        ctx: RenderContext) -> None:
    """A ReadWriteOnce claim mounted by several notebooks pins them to one node."""
    from flowyard.resources.notebook import Notebook

    users: dict[str, list[str]] = {}
    for item in loaded:
        if isinstance(item.resource, Notebook):
            spec = item.resource.spec
            names = {m.name for m in spec.volumes if not m.read_only}
            names |= {spec.workspace} if spec.workspace else set()
            for name in names:
                users.setdefault(name, []).append(item.resource.name)
    for name, notebooks in sorted(users.items()):
        volume = volumes.get(name)
        if volume is not None and len(notebooks) > 1 and not volume.spec.shared:
            ctx.warnings.append(
                f"Volume {name!r} is ReadWriteOnce (shared: false) but notebooks "
                f"{', '.join(sorted(notebooks))} mount it for writing: they can only run on "
                "one node together; set `shared: true` (ReadWriteMany) if they must not")


def file_name(obj: Manifest) -> str:
    return f"{obj['kind'].lower()}-{obj['metadata']['name']}.yaml"


class _Dumper(yaml.SafeDumper):
    """Block style, and multi-line strings (embedded graphs, repository configs) as `|`."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump(obj: Manifest) -> str:
    return yaml.dump(obj, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=100)


def write_folder(rendered: Rendered, folder: Path) -> list[Path]:
    """Replace `folder` with one file per object plus kustomization.yaml."""
    names = [file_name(o) for o in rendered.objects]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"two objects would be written to {dupes[0]}",
                          hint="rename one of the resources")
    try:
        if folder.exists():
            if not (folder / "kustomization.yaml").exists() and any(folder.iterdir()):
                raise ConfigError(f"{folder} exists and is not a rendered folder (no "
                                  "kustomization.yaml); refusing to replace it",
                                  hint="choose an empty or new folder with -o")
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        paths = []
        for name, obj in zip(names, rendered.objects, strict=True):
            path = folder / name
            path.write_text(dump(obj), encoding="utf-8")
            paths.append(path)
        kust: dict[str, Any] = {"apiVersion": "kustomize.config.k8s.io/v1beta1",
                                "kind": "Kustomization", "resources": names}
        (folder / "kustomization.yaml").write_text(dump(kust), encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write {folder}: {exc.strerror or exc}",
                          hint="choose a writable folder with -o") from exc
    return paths


def render_platform(pf: ProjectFile, env_name: str) -> Rendered:
    """The Flowyard server's own objects in environment `env_name` (see kube/platform.py)."""
    from flowyard.kube.platform import build_platform

    env = pf.environment(env_name)
    if env.type == "local":
        raise ConfigError(f"environment {env_name!r} is local: there is nothing to render",
                          hint="`flowyard up` runs the platform on this machine")
    ctx = RenderContext(env_name, env)
    return Rendered(env_name, build_platform(ctx), ctx.warnings)


def write_dockerfile(folder: Path) -> Path:
    """The Flowyard image's Dockerfile, next to the rendered platform manifests."""
    from flowyard.kube.platform import dockerfile

    path = folder / "Dockerfile"
    try:
        path.write_text(dockerfile(), encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return path
