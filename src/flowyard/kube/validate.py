"""Check rendered manifests before anything reaches a cluster.

- Custom resources (Argo, KServe, Seldon, Emissary, Gateway API, Kubeflow) against the
  openAPIV3Schema of their CRD version, read from the schemas folder (FLOWYARD_SCHEMAS, or
  shared/schemas next to the repository). Unknown fields are errors, as with kubectl's
  strict field validation; a kind with no CRD is a failure, never a pass.
- Core kinds with kubernetes-validate --strict at a pinned Kubernetes version (its schemas
  ship in the wheel, so this works offline).
- What schemas miss: DNS-1123 names, selectors that match their pod labels, and Service
  ports that match a container port.

    python -m flowyard.kube.validate DIR     # exit 1 and one line per problem on failure
"""

from __future__ import annotations

import copy
import importlib.util
import os
import re
import sys
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from flowyard.errors import ConfigError, Problem

KUBERNETES_VERSION = "1.33.0"
CORE_GROUPS = {"", "apps", "batch", "rbac.authorization.k8s.io", "networking.k8s.io",
               "policy", "autoscaling", "storage.k8s.io"}
_GROUP = re.compile(r"^\s+group:\s*(\S+)\s*$", re.M)
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# Kinds whose name becomes a DNS label (a Service name, or a host name part).
_LABEL_NAMED = {"Service", "Namespace", "InferenceService", "SeldonDeployment"}
_WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}


SNAPSHOT = ("snapshot.storage.k8s.io", "v1", "VolumeSnapshot")
# The external-snapshotter CRD is not among the shared schema copies, so until it is, its v1
# schema is written out here from the API reference
# (https://kubernetes.io/docs/concepts/storage/volume-snapshots/): a source that is exactly one
# of a claim or a pre-provisioned content, and an optional class. A CRD copy in the schemas
# folder takes precedence.
_NAME = {"type": "string", "minLength": 1}
VOLUME_SNAPSHOT_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["spec"],
    "properties": {
        "apiVersion": {"type": "string"}, "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": {"type": "object", "required": ["source"], "properties": {
            "source": {"type": "object",
                       "properties": {"persistentVolumeClaimName": _NAME,
                                      "volumeSnapshotContentName": _NAME},
                       "oneOf": [{"required": ["persistentVolumeClaimName"]},
                                 {"required": ["volumeSnapshotContentName"]}]},
            "volumeSnapshotClassName": _NAME}},
        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    },
}


def schemas_dir() -> Path:
    """FLOWYARD_SCHEMAS, else ../shared/schemas from the repository root or the cwd."""
    env = os.environ.get("FLOWYARD_SCHEMAS")
    if env:
        return Path(env)
    candidates = list(dict.fromkeys([  # from the repository root, the cwd is often the same
        Path(__file__).resolve().parents[3].parent / "shared" / "schemas",
        Path.cwd().parent / "shared" / "schemas", Path.cwd() / "shared" / "schemas"]))
    for path in candidates:
        if path.is_dir():
            return path
    raise ConfigError("no CRD schemas folder found (looked at "
                      + ", ".join(str(c) for c in candidates) + ")",
                      hint="set FLOWYARD_SCHEMAS to a folder of the CRD files; docs/kubernetes.md "
                           "(Validation) lists them and where each comes from")


def require_validators() -> None:
    """The `kube` extra's checkers are installed, or a ConfigError that says how to get them."""
    missing = [name for name in ("jsonschema", "kubernetes_validate")
               if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigError(f"validating manifests needs {' and '.join(missing)}, which "
                          f"{'is' if len(missing) == 1 else 'are'} not installed",
                          hint='pip install "flowyard[kube]" (in a clone: '
                               'pip install -e ".[kube]")')


@cache
def _group_files(root: Path) -> dict[str, list[Path]]:
    index: dict[str, list[Path]] = {}
    for path in sorted(root.rglob("*.yaml")):
        for group in set(_GROUP.findall(path.read_text(encoding="utf-8"))):
            index.setdefault(group, []).append(path)
    return index


@cache
def _crd_schemas(root: Path, group: str) -> dict[tuple[str, str], dict[str, Any]]:
    """(version, kind) -> openAPIV3Schema for every CRD of `group` under `root`."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for path in _group_files(root).get(group, []):
        with path.open(encoding="utf-8") as handle:
            for doc in yaml.load_all(handle, Loader=loader):
                if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
                    continue
                spec = doc.get("spec", {})
                if spec.get("group") != group:
                    continue
                kind = spec.get("names", {}).get("kind")
                for version in spec.get("versions", []):
                    schema = (version.get("schema") or {}).get("openAPIV3Schema")
                    if schema:
                        out[(version["name"], kind)] = _strict(schema)
    return out


@cache
def _argo_definition(root: Path, version: str, kind: str) -> dict[str, Any] | None:
    """Argo kinds without a CRD copy here (WorkflowTemplate) from Argo's own JSON Schema."""
    import json

    path = root / "argo-workflows" / "schema.json"
    if not path.is_file():
        return None
    definitions = json.loads(path.read_text(encoding="utf-8")).get("definitions", {})
    name = f"io.argoproj.workflow.{version}.{kind}"
    if name not in definitions:
        return None
    table = {k: _strict(v) for k, v in definitions.items()}
    # The API server takes numbers for IntOrString; Argo's JSON Schema only says "string".
    table["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] = {
        "anyOf": [{"type": "integer"}, {"type": "string"}]}
    return {"$ref": f"#/definitions/{name}", "definitions": table}


def _strict(schema: Any) -> Any:
    """Unknown fields become errors where the schema lists properties and does not say
    x-kubernetes-preserve-unknown-fields (what the API server's strict validation does)."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    for key in ("items", "additionalProperties", "not"):
        if isinstance(schema.get(key), dict):
            out[key] = _strict(schema[key])
    for key in ("anyOf", "allOf", "oneOf"):
        if isinstance(schema.get(key), list):
            out[key] = [_strict(s) for s in schema[key]]
    if isinstance(schema.get("properties"), dict):
        out["properties"] = {k: _strict(v) for k, v in schema["properties"].items()}
    if ("properties" in schema and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    return out


def _split(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


def _path(items: Iterable[Any]) -> str:
    out = ""
    for item in items:
        out += f"[{item}]" if isinstance(item, int) else (f".{item}" if out else str(item))
    return out


def validate_object(obj: Any, *, file: str | None = None,
                    schemas: Path | None = None) -> list[Problem]:
    """Every schema problem of one manifest (custom or core kind)."""
    if not isinstance(obj, dict) or not obj.get("apiVersion") or not obj.get("kind"):
        return [Problem("a manifest is a mapping with apiVersion and kind", file=file)]
    kind, api_version = str(obj["kind"]), str(obj["apiVersion"])
    name = (obj.get("metadata") or {}).get("name", "?")
    who = f"{kind}/{name}"
    group, version = _split(api_version)
    if group in CORE_GROUPS:
        return _core(obj, who, file)
    import jsonschema

    root = schemas or schemas_dir()
    table = _crd_schemas(root, group)
    schema = table.get((version, kind))
    if schema is None and group == "argoproj.io":
        schema = _argo_definition(root, version, kind)
    if schema is None and (group, version, kind) == SNAPSHOT:
        schema = _strict(VOLUME_SNAPSHOT_SCHEMA)
    if schema is None:
        known = sorted(f"{group}/{v} {k}" for v, k in table) or ["none for this group"]
        return [Problem(f"{who}: no CRD schema for {api_version} {kind} in {root}",
                        file=file, allowed="known: " + ", ".join(known[:8]))]
    validator = jsonschema.Draft7Validator(schema)
    problems = []
    for err in sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.path))):
        problems.append(Problem(f"{who}: {err.message} (CRD {group}/{version} {kind})",
                                field=_path(err.path), file=file))
    return problems


def _core(obj: dict[str, Any], who: str, file: str | None) -> list[Problem]:
    import kubernetes_validate

    try:
        kubernetes_validate.validate(copy.deepcopy(obj), KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [Problem(f"{who}: {exc.message} (Kubernetes {KUBERNETES_VERSION} schema)",
                        field=_path(exc.path), file=file)]
    except kubernetes_validate.SchemaNotFoundError:
        return [Problem(f"{who}: no Kubernetes {KUBERNETES_VERSION} schema for "
                        f"{obj['apiVersion']} {obj['kind']}", file=file)]
    return []


def check_names(obj: dict[str, Any], file: str | None = None) -> list[Problem]:
    meta = obj.get("metadata") or {}
    name = str(meta.get("name", ""))
    kind = str(obj.get("kind"))
    problems = []
    if kind in _LABEL_NAMED:
        if len(name) > 63 or not _LABEL.match(name):
            problems.append(Problem(f"{kind}/{name}: the name must be a DNS-1123 label",
                                    "metadata.name", file, value=name,
                                    allowed="at most 63 lower-case letters, digits or '-'"))
    elif len(name) > 253 or not _SUBDOMAIN.match(name):
        problems.append(Problem(f"{kind}/{name}: the name must be a DNS-1123 subdomain",
                                "metadata.name", file, value=name,
                                allowed="lower-case letters, digits, '-' and '.'"))
    return problems


def _pod(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj.get("spec") or {}
    if obj.get("kind") == "Job":
        return spec.get("template") or {}
    return spec.get("template") or {}


def check_wiring(objects: Sequence[tuple[dict[str, Any], str | None]]) -> list[Problem]:
    """Selectors match their pod labels; Service ports match a selected container port."""
    problems: list[Problem] = []
    workloads = [(o, f) for o, f in objects if o.get("kind") in _WORKLOADS]
    for obj, file in workloads:
        who = f"{obj['kind']}/{obj['metadata'].get('name')}"
        selector = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        pod_labels = (_pod(obj).get("metadata") or {}).get("labels") or {}
        for key, value in selector.items():
            if pod_labels.get(key) != value:
                problems.append(Problem(f"{who}: selector {key}={value} does not match the pod "
                                        f"template labels {pod_labels}",
                                        "spec.selector.matchLabels", file))
    for obj, file in objects:
        if obj.get("kind") != "Service":
            continue
        spec = obj.get("spec") or {}
        selector = spec.get("selector") or {}
        if not selector:
            continue
        who = f"Service/{obj['metadata'].get('name')}"
        chosen = [w for w, _ in workloads if all(
            ((_pod(w).get("metadata") or {}).get("labels") or {}).get(k) == v
            for k, v in selector.items())]
        if not chosen:
            problems.append(Problem(f"{who}: selector {selector} matches no pod template "
                                    "rendered here", "spec.selector", file))
            continue
        ports: set[Any] = set()
        for w in chosen:
            for box in (_pod(w).get("spec") or {}).get("containers") or []:
                for port in box.get("ports") or []:
                    ports.add(port.get("containerPort"))
                    if port.get("name"):
                        ports.add(port["name"])
        for i, port in enumerate(spec.get("ports") or []):
            target = port.get("targetPort", port.get("port"))
            if target not in ports:
                problems.append(Problem(f"{who}: targetPort {target!r} is no container port of "
                                        "the selected pods", f"spec.ports[{i}].targetPort",
                                        file,
                                        allowed=f"container ports: {sorted(map(str, ports))}"))
    return problems


def validate_manifests(objects: Sequence[tuple[Any, str | None]],
                       schemas: Path | None = None) -> list[Problem]:
    """All problems of a set of manifests, each with the file it came from."""
    require_validators()
    problems: list[Problem] = []
    good: list[tuple[dict[str, Any], str | None]] = []
    for obj, file in objects:
        found = validate_object(obj, file=file, schemas=schemas)
        problems.extend(found)
        if isinstance(obj, dict) and obj.get("kind"):
            problems.extend(check_names(obj, file))
            good.append((obj, file))
    problems.extend(check_wiring(good))
    return problems


def read_folder(folder: Path) -> list[tuple[Any, str | None]]:
    """Every YAML document under `folder` except kustomization.yaml."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    out: list[tuple[Any, str | None]] = []
    for path in sorted(folder.rglob("*.y*ml")):
        if path.name in ("kustomization.yaml", "kustomization.yml"):
            continue
        try:
            docs = list(yaml.load_all(path.read_text(encoding="utf-8"), Loader=loader))
        except yaml.YAMLError as exc:
            out.append(({"error": str(exc)}, str(path)))
            continue
        out.extend((doc, str(path)) for doc in docs if doc is not None)
    return out


def validate_folder(folder: Path, schemas: Path | None = None) -> list[Problem]:
    if not folder.is_dir():
        raise ConfigError(f"{folder} is not a folder", hint="render one with flowyard render")
    return validate_manifests(read_folder(folder), schemas)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m flowyard.kube.validate DIR", file=sys.stderr)
        return 2
    problems = validate_folder(Path(args[0]))
    for problem in problems:
        print(problem.render(), file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
