"""The project file `flowyard.yaml`: components, environments and layered parameters.

    apiVersion: flowyard.dev/v1alpha1
    kind: Project
    metadata: {name: demo}
    components: [../pipelines/train.yaml]      # files or folders, relative to this file
    params:
      global: {seed: 0}                        # any component with a parameter `seed`
      components:
        train-breast-cancer: {test_size: 0.3}
    environments:
      local: {type: local}
      staging:
        context: kind-flowyard
        namespace: ml-staging
        image: ghcr.io/flowyard/flowyard:0.1.0
        serving: kserve                        # or seldon
        routes: gateway-api                    # or emissary
        volumeSnapshotClass: csi-snapclass     # optional: class of rendered VolumeSnapshots
        artifactRepository:
          s3: {bucket: flowyard, endpoint: minio.minio:9000, insecure: true,
               secret: {name: s3-credentials}}
        params:
          components:
            train-breast-cancer: {seed: 7}

A component file may also be a kfp v2 compiled pipeline (IR YAML); it loads as the
Pipeline `flowyard.pipelines.kfp` translates it to, named after `pipelineInfo.name`.

A parameter's value is, lowest first: the component's declared default, `params.global`,
`params.components.<name>`, then the same two under the environment.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from flowyard.errors import ConfigError, InvalidInput, NotFound, Problem, ResourceInvalid
from flowyard.resources.base import API_VERSION, DNS1123_LABEL, FlowModel, ObjectMeta
from flowyard.resources.loader import (
    RESOURCE_SUFFIXES,
    Loaded,
    Origin,
    PathItem,
    close_names,
    load_file,
    problem_at,
)

PROJECT_FILE = "flowyard.yaml"
_ENV_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class Serving(StrEnum):
    KSERVE = "kserve"
    SELDON = "seldon"


class Routes(StrEnum):
    EMISSARY = "emissary"
    GATEWAY_API = "gateway-api"


class SecretKeys(FlowModel):
    """A Secret holding the S3 credentials, and the keys inside it."""

    name: str
    access_key: str = "accessKey"
    secret_key: str = "secretKey"


class S3Repository(FlowModel):
    bucket: str
    endpoint: str | None = Field(default=None, description="host:port; empty means AWS S3")
    region: str | None = None
    insecure: bool = False
    key_prefix: str = "flowyard"
    secret: SecretKeys | None = None


class ArtifactRepository(FlowModel):
    s3: S3Repository


class Params(FlowModel):
    global_: dict[str, Any] = Field(default_factory=dict, alias="global")
    components: dict[str, dict[str, Any]] = Field(default_factory=dict)


class Environment(FlowModel):
    type: Literal["local", "kubernetes"] = "kubernetes"
    context: str | None = None
    namespace: str | None = None
    image: str = "ghcr.io/flowyard/flowyard:latest"
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = None
    service_account: str | None = None
    serving: Serving = Serving.KSERVE
    routes: Routes = Routes.GATEWAY_API
    artifact_repository: ArtifactRepository | None = None
    volume_snapshot_class: str | None = Field(
        default=None, description="VolumeSnapshotClass of rendered VolumeSnapshots; empty "
        "means the cluster's default class")
    params: Params = Field(default_factory=Params)

    @field_validator("namespace")
    @classmethod
    def _dns(cls, value: str | None) -> str | None:
        if value is not None and (len(value) > 63 or not DNS1123_LABEL.match(value)):
            raise ValueError("a namespace is a DNS-1123 label: at most 63 lower-case letters, "
                             "digits or '-' (e.g. 'ml-staging')")
        return value

    @model_validator(mode="after")
    def _kube_needs_place(self) -> Environment:
        if self.type == "kubernetes":
            missing = [f for f in ("context", "namespace") if not getattr(self, f)]
            if missing:
                raise ValueError(
                    f"a kubernetes environment needs {' and '.join(missing)} (the kubeconfig "
                    "context to deploy with and the namespace to deploy into); for this "
                    "machine use `type: local`")
        return self


class Project(FlowModel):
    api_version: Literal["flowyard.dev/v1alpha1"] = API_VERSION
    kind: Literal["Project"] = "Project"
    metadata: ObjectMeta
    components: list[str] = Field(default_factory=list)
    params: Params = Field(default_factory=Params)
    environments: dict[str, Environment] = Field(default_factory=dict)

    @field_validator("environments")
    @classmethod
    def _env_names(cls, value: dict[str, Environment]) -> dict[str, Environment]:
        for name in value:
            if not _ENV_NAME.match(name) or len(name) > 63:
                raise ValueError(f"environment name {name!r} must be a DNS-1123 label "
                                 "(lower-case letters, digits, '-')")
        return value


@dataclass
class ProjectFile:
    """A loaded project: the model, where it came from, and its folder."""

    project: Project
    path: Path
    origin: Origin | None = None

    @property
    def root(self) -> Path:
        return self.path.parent

    def line(self, where: Sequence[PathItem]) -> str:
        line = self.origin.line_of(where) if self.origin else None
        return f"{self.path}:{line}" if line else str(self.path)

    def environment(self, name: str) -> Environment:
        env = self.project.environments.get(name)
        if env is None:
            known = ", ".join(sorted(self.project.environments)) or "none yet"
            close = close_names(name, self.project.environments)
            guess = f" (did you mean {close[0]!r}?)" if close else ""
            raise NotFound(f"unknown environment {name!r}{guess} in {self.path}; "
                           f"known environments: {known}",
                           hint="add one with `flowyard env add NAME --context C "
                                "--namespace N`")
        return env

    def load_components(self) -> list[Loaded]:
        """Every resource the project's components name, in the order listed."""
        loaded: list[Loaded] = []
        problems: list[Problem] = []
        for i, entry in enumerate(self.project.components):
            target = (self.root / entry).resolve()
            if not target.exists():
                problems.append(problem_at(self.origin, ("components", i),
                                           f"component path {entry!r} does not exist "
                                           f"(resolved to {target})",
                                           allowed="paths are relative to the project file"))
                continue
            for file in _component_files(target):
                try:
                    # `components: [.]` scans the folder of this very project file.
                    loaded.extend(_load_component_file(file, skip_projects=target.is_dir()))
                except ResourceInvalid as exc:
                    problems.extend(exc.problems)
        seen: dict[tuple[str, str], str] = {}
        for item in loaded:
            key = (item.resource.kind, item.resource.name)
            here = f"{item.origin.file}:{item.origin.line}"
            if key in seen:
                problems.append(Problem(f"{key[0]} {key[1]!r} is declared twice (also at "
                                        f"{seen[key]})", file=item.origin.file,
                                        line=item.origin.line))
            seen.setdefault(key, here)
        if problems:
            raise ResourceInvalid(problems)
        return loaded

    def save(self) -> None:
        """Write the project back (comments are not kept)."""
        body = self.project.model_dump(mode="json", by_alias=True, exclude_defaults=True)
        out = {"apiVersion": API_VERSION, "kind": "Project", **body}
        text = yaml.safe_dump(out, sort_keys=False, default_flow_style=False)
        try:
            self.path.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot write {self.path}: {exc.strerror or exc}") from exc


def _component_files(target: Path) -> list[Path]:
    """`target`, or its resource files as `load_path` picks them (sorted, no hidden parts)."""
    if not target.is_dir():
        return [target]
    return sorted(p for p in target.rglob("*")
                  if p.is_file() and p.suffix.lower() in RESOURCE_SUFFIXES
                  and not any(part.startswith(".") for part in p.relative_to(target).parts))


def _load_component_file(file: Path, *, skip_projects: bool = False) -> list[Loaded]:
    """The resources in one file; a kfp v2 compiled pipeline (IR) is its translated Pipeline."""
    from flowyard.pipelines.kfp.loader import read_ir
    from flowyard.pipelines.kfp.translate import translate

    ir = read_ir(file)
    if ir is None:
        return load_file(file, skip_projects=skip_projects)
    origin = Origin(file=str(file), line=1)
    try:
        pipeline = translate(ir, origin=str(file))
    except ResourceInvalid:
        raise
    except InvalidInput as exc:
        message = exc.message.removeprefix(f"{file}: ")
        raise ResourceInvalid([Problem(f"kfp pipeline: {message}", file=str(file), line=1,
                                       allowed=exc.hint)]) from exc
    return [Loaded(pipeline, origin)]


def find_project(path: Path | None = None) -> Path:
    """`path` if given, else flowyard.yaml in the current folder or one of its parents."""
    if path is not None:
        return path / PROJECT_FILE if path.is_dir() else path
    here = Path.cwd()
    for folder in (here, *here.parents):
        if (folder / PROJECT_FILE).is_file():
            return folder / PROJECT_FILE
    raise NotFound(f"no {PROJECT_FILE} in {here} or its parents",
                   hint="create one (see docs/kubernetes.md) or pass --project PATH")


def load_project(path: Path | None = None) -> ProjectFile:
    """Read and validate a project file; problems name file:line and the field."""
    from flowyard.resources.loader import documents, problems_from

    file = find_project(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise NotFound(f"no such project file: {file}",
                       hint="create it, or pass --project PATH") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read {file}: {exc.strerror or exc}") from exc
    docs = list(documents(text, str(file)))
    if len(docs) != 1:
        raise ResourceInvalid([Problem(f"a project file holds one document ({len(docs)} found)",
                                       file=str(file))])
    data, origin, problems = docs[0]
    if problems:
        raise ResourceInvalid(problems)
    try:
        project = Project.model_validate(data)
    except ValidationError as exc:
        raise ResourceInvalid(problems_from(exc, Project, origin)) from exc
    return ProjectFile(project, file, origin)


def new_project(path: Path, name: str) -> ProjectFile:
    meta = ObjectMeta(name=name)
    project = Project(metadata=meta, environments={"local": Environment(type="local")})
    return ProjectFile(project, path)


# --- parameters ------------------------------------------------------------------------------


@dataclass
class ParamValue:
    value: Any
    source: str
    """'default', 'global', 'component', 'env global' or 'env component'."""


@dataclass
class ResolvedParams:
    values: dict[str, dict[str, ParamValue]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def plain(self, resource: str) -> dict[str, Any]:
        return {k: v.value for k, v in self.values.get(resource, {}).items()}


def resolve_params(pf: ProjectFile, resources: Sequence[Loaded],
                   env_name: str | None) -> ResolvedParams:
    """Layer defaults, globals and overrides for every Pipeline; check names and types."""
    from flowyard.pipelines.validate import validate_parameters
    from flowyard.resources.pipeline import Pipeline

    env = pf.environment(env_name) if env_name else None
    layers: list[tuple[str, tuple[PathItem, ...], Params]] = [("", ("params",), pf.project.params)]
    if env is not None:
        layers.append(("env ", ("environments", env_name or "", "params"), env.params))
    pipelines = {item.resource.name: item.resource for item in resources
                 if isinstance(item.resource, Pipeline)}
    names = {item.resource.name for item in resources}
    out = ResolvedParams()
    problems: list[Problem] = []
    used_globals: set[tuple[int, str]] = set()
    for _prefix, where, params in layers:
        for comp in params.components:
            if comp not in names:
                close = close_names(comp, names)
                problems.append(problem_at(
                    pf.origin, (*where, "components", comp),
                    f"parameters for unknown component {comp!r}",
                    allowed=(f"did you mean {close[0]!r}? " if close else "")
                    + f"components: {', '.join(sorted(names)) or 'none'}"))
            elif comp not in pipelines:
                problems.append(problem_at(
                    pf.origin, (*where, "components", comp),
                    f"{comp!r} is not a Pipeline and takes no parameters"))
    for name, pipeline in pipelines.items():
        declared = {p.name for p in pipeline.spec.parameters}
        chosen: dict[str, ParamValue] = {
            p.name: ParamValue(copy.deepcopy(p.default), "default")
            for p in pipeline.spec.parameters if p.has_default}
        given: dict[str, Any] = {}
        place: dict[str, tuple[PathItem, ...]] = {}
        for li, (prefix, where, params) in enumerate(layers):
            for key, value in params.global_.items():
                if key in declared:
                    used_globals.add((li, key))
                    chosen[key] = ParamValue(value, f"{prefix}global")
                    given[key] = value
                    place[key] = (*where, "global", key)
            for key, value in params.components.get(name, {}).items():
                chosen[key] = ParamValue(value, f"{prefix}component")
                given[key] = value
                place[key] = (*where, "components", name, key)
        try:
            typed = validate_parameters(pipeline, given)
        except InvalidInput as exc:
            bad = next((k for k in given if repr(k) in exc.message), None)
            path = place.get(bad, ("params",)) if bad else ("params",)
            problems.append(problem_at(pf.origin, path,
                                       f"pipeline {name!r}: {exc.message}",
                                       allowed="fix the value or the name in the project file"))
            continue
        for key, value in typed.items():
            source = chosen[key].source if key in chosen else "default"
            chosen[key] = ParamValue(value, source)
        out.values[name] = chosen
    for li, (prefix, _where, params) in enumerate(layers):
        for key in params.global_:
            if (li, key) not in used_globals:
                out.warnings.append(f"{pf.path}: {prefix}global parameter {key!r} is read by "
                                    "no component")
    if problems:
        raise ResourceInvalid(problems)
    return out
