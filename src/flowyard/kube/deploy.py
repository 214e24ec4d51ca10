"""Deploy rendered objects with server-side apply, diff them against the cluster, delete them.

Through the official `kubernetes` client (its kubeconfig loading, auth and HTTP), but with
raw REST calls rather than its typed or dynamic APIs: one code path covers core kinds and
custom resources alike, and API discovery is two small GETs per group version.
Server-side apply: https://kubernetes.io/docs/reference/using-api/server-side-apply/

Everything applied carries `app.kubernetes.io/managed-by=flowyard` and
`flowyard.dev/environment=E`; pruning deletes objects with those labels that the
environment no longer declares.
"""

from __future__ import annotations

import contextlib
import copy
import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from flowyard.errors import ConfigError, Conflict, InvalidInput, StoreError
from flowyard.kube.context import Manifest

FIELD_MANAGER = "flowyard"
ENV_LABEL = "flowyard.dev/environment"
MANAGED_LABEL = "app.kubernetes.io/managed-by"
# Kinds Flowyard renders: what pruning and delete look through.
OWNED_KINDS: list[tuple[str, str]] = [
    ("v1", "ServiceAccount"), ("v1", "ConfigMap"), ("v1", "Service"),
    ("v1", "PersistentVolumeClaim"),
    ("rbac.authorization.k8s.io/v1", "Role"), ("rbac.authorization.k8s.io/v1", "RoleBinding"),
    ("apps/v1", "Deployment"),
    ("argoproj.io/v1alpha1", "Workflow"), ("argoproj.io/v1alpha1", "WorkflowTemplate"),
    ("serving.kserve.io/v1beta1", "InferenceService"),
    ("machinelearning.seldon.io/v1", "SeldonDeployment"),
    ("kubeflow.org/v1", "Notebook"), ("snapshot.storage.k8s.io/v1", "VolumeSnapshot"),
    ("getambassador.io/v3alpha1", "Mapping"), ("gateway.networking.k8s.io/v1", "HTTPRoute"),
]
# Apply order: what others refer to first.
_ORDER = ["ServiceAccount", "Role", "RoleBinding", "ConfigMap", "PersistentVolumeClaim",
          "Service", "Deployment"]
_SERVER_FIELDS = ("managedFields", "resourceVersion", "uid", "generation",
                  "creationTimestamp")


@dataclass(frozen=True)
class ResourceType:
    api_version: str
    kind: str
    plural: str
    namespaced: bool

    def path(self, namespace: str, name: str | None = None) -> str:
        base = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        ns = f"/namespaces/{namespace}" if self.namespaced else ""
        return f"{base}{ns}/{self.plural}" + (f"/{name}" if name else "")


@dataclass
class Change:
    action: str
    """create, update, unchanged, delete (diff); applied, pruned, deleted (deploy/delete)."""
    kind: str
    name: str
    diff: str = ""

    def line(self) -> str:
        return f"{self.action:9} {self.kind}/{self.name}"


def owner_labels(environment: str) -> dict[str, str]:
    return {MANAGED_LABEL: "flowyard", ENV_LABEL: environment}


def selector(environment: str) -> str:
    return ",".join(f"{k}={v}" for k, v in owner_labels(environment).items())


class Cluster:
    """One namespace of one cluster, reached through a kubeconfig context."""

    def __init__(self, api: Any, namespace: str, context: str) -> None:
        self.api = api
        self.namespace = namespace
        self.context = context
        self._groups: dict[str, dict[str, ResourceType] | None] = {}

    @classmethod
    def connect(cls, context: str, namespace: str, kubeconfig: Path | None = None) -> Cluster:
        from kubernetes import config
        from kubernetes.config.config_exception import ConfigException

        where = str(kubeconfig) if kubeconfig else "$KUBECONFIG or ~/.kube/config"
        try:
            api = config.new_client_from_config(
                config_file=str(kubeconfig) if kubeconfig else None, context=context,
                persist_config=False)
        except (ConfigException, OSError) as exc:
            raise ConfigError(f"cannot use kubeconfig context {context!r} from {where}: {exc}",
                              hint="check `kubectl config get-contexts`, or set the "
                                   "environment's context with `flowyard env add`") from exc
        api.configuration.retries = 0
        return cls(api, namespace, context)

    def _call(self, method: str, path: str, *, query: list[tuple[str, str]] | None = None,
              body: Any = None, content_type: str | None = None) -> Any:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        try:
            return self.api.call_api(path, method, query_params=query or [],
                                     header_params=headers, body=body,
                                     response_type="object", auth_settings=["BearerToken"],
                                     _return_http_data_only=True, _preload_content=True)
        except ApiException as exc:
            raise _translate(exc, method, path) from exc
        except HTTPError as exc:
            raise StoreError(f"cannot reach the cluster of context {self.context!r} at "
                             f"{self.api.configuration.host}: {exc}",
                             hint="is the cluster running and the context right?") from exc

    def resource_type(self, api_version: str, kind: str) -> ResourceType | None:
        """Discovery: the REST plural and scope of a kind, None if the cluster lacks it."""
        if api_version not in self._groups:
            path = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
            try:
                listing = self._call("GET", path)
            except _Missing:
                self._groups[api_version] = None
            else:
                self._groups[api_version] = {
                    r["kind"]: ResourceType(api_version, r["kind"], r["name"],
                                            bool(r.get("namespaced")))
                    for r in listing.get("resources", []) if "/" not in r["name"]}
        group = self._groups[api_version]
        return group.get(kind) if group else None

    def _need(self, obj: Manifest) -> ResourceType:
        rtype = self.resource_type(obj["apiVersion"], obj["kind"])
        if rtype is None:
            raise ConfigError(f"{obj['kind']}/{obj['metadata']['name']}: the cluster of "
                              f"context {self.context!r} does not serve "
                              f"{obj['apiVersion']} {obj['kind']}",
                              hint="install its CRDs (Argo, KServe, Seldon, Emissary or "
                                   "Gateway API) or change the environment's settings")
        return rtype

    def apply(self, obj: Manifest, *, dry_run: bool = False) -> Manifest:
        rtype = self._need(obj)
        query = [("fieldManager", FIELD_MANAGER), ("force", "true")]
        if dry_run:
            query.append(("dryRun", "All"))
        result: Manifest = self._call(
            "PATCH", rtype.path(self.namespace, obj["metadata"]["name"]), query=query,
            body=obj, content_type="application/apply-patch+yaml")
        return result

    def get(self, obj: Manifest) -> Manifest | None:
        rtype = self._need(obj)
        try:
            live: Manifest = self._call("GET", rtype.path(self.namespace,
                                                          obj["metadata"]["name"]))
        except _Missing:
            return None
        return live

    def owned(self, environment: str,
              kinds: Iterable[tuple[str, str]] = OWNED_KINDS) -> list[tuple[ResourceType, str]]:
        """(type, name) of every object in the namespace labelled for `environment`."""
        out: list[tuple[ResourceType, str]] = []
        for api_version, kind in kinds:
            rtype = self.resource_type(api_version, kind)
            if rtype is None:
                continue
            listing = self._call("GET", rtype.path(self.namespace),
                                 query=[("labelSelector", selector(environment))])
            out.extend((rtype, item["metadata"]["name"]) for item in listing.get("items", []))
        return out

    def delete(self, rtype: ResourceType, name: str, *, dry_run: bool = False) -> None:
        query = [("propagationPolicy", "Foreground")]
        if dry_run:
            query.append(("dryRun", "All"))
        with contextlib.suppress(_Missing):  # already gone: the goal is reached
            self._call("DELETE", rtype.path(self.namespace, name), query=query)


class _Missing(StoreError):
    """404 from the API server (translated, and handled where absence is fine)."""


def _translate(exc: Any, method: str, path: str) -> Exception:
    import json

    reason = exc.reason
    with contextlib.suppress(TypeError, ValueError, AttributeError):
        reason = json.loads(exc.body).get("message") or reason
    text = f"{method} {path}: {exc.status} {reason}"
    if exc.status == 404:
        return _Missing(text)
    if exc.status == 409:
        return Conflict(text, hint="another field manager owns these fields")
    if exc.status in (400, 422):
        return InvalidInput(text, hint="the API server rejected the object; run "
                                       "`flowyard validate-kube` on the rendered folder")
    if exc.status in (401, 403):
        return ConfigError(text, hint="the kubeconfig user lacks permission for this")
    return StoreError(text)


def prepare(objects: Iterable[Manifest], environment: str, namespace: str) -> list[Manifest]:
    """Copies with the owner labels and namespace set, in apply order."""
    out = []
    for obj in objects:
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        meta.setdefault("labels", {}).update(owner_labels(environment))
        meta["namespace"] = namespace
        out.append(obj)
    rank = {k: i for i, k in enumerate(_ORDER)}
    return sorted(out, key=lambda o: rank.get(o["kind"], len(rank)))


def _key(api_version: str, kind: str, name: str) -> tuple[str, str, str]:
    return (api_version.split("/")[0] if "/" in api_version else "", kind, name)


def _stale(cluster: Cluster, objects: list[Manifest],
           environment: str) -> list[tuple[ResourceType, str]]:
    wanted = {_key(o["apiVersion"], o["kind"], o["metadata"]["name"]) for o in objects}
    kinds = list(dict.fromkeys(OWNED_KINDS + [(o["apiVersion"], o["kind"]) for o in objects]))
    return [(rtype, name) for rtype, name in cluster.owned(environment, kinds)
            if _key(rtype.api_version, rtype.kind, name) not in wanted]


def deploy(cluster: Cluster, objects: list[Manifest], environment: str, *,
           prune: bool = True) -> list[Change]:
    objects = prepare(objects, environment, cluster.namespace)
    for obj in objects:  # every kind must be served before anything changes
        cluster._need(obj)
    changes = []
    for obj in objects:
        cluster.apply(obj)
        changes.append(Change("applied", obj["kind"], obj["metadata"]["name"]))
    if prune:
        for rtype, name in _stale(cluster, objects, environment):
            cluster.delete(rtype, name)
            changes.append(Change("pruned", rtype.kind, name))
    return changes


def _clean(obj: Manifest) -> Manifest:
    obj = copy.deepcopy(obj)
    obj.pop("status", None)
    meta = obj.get("metadata", {})
    for key in _SERVER_FIELDS:
        meta.pop(key, None)
    return obj


def _yaml(obj: Manifest) -> list[str]:
    return yaml.safe_dump(obj, sort_keys=True).splitlines(keepends=True)


def diff(cluster: Cluster, objects: list[Manifest], environment: str) -> list[Change]:
    """What `deploy` would change: a server-side dry-run apply compared with the live object."""
    objects = prepare(objects, environment, cluster.namespace)
    changes = []
    for obj in objects:
        name = obj["metadata"]["name"]
        live = cluster.get(obj)
        after = _clean(cluster.apply(obj, dry_run=True))
        before = _clean(live) if live is not None else None
        label = f"{obj['kind']}/{name}"
        text = "".join(difflib.unified_diff(_yaml(before) if before else [], _yaml(after),
                                            f"live/{label}", f"deploy/{label}"))
        action = "create" if before is None else ("update" if before != after
                                                  else "unchanged")
        changes.append(Change(action, obj["kind"], name, text if action != "unchanged"
                              else ""))
    for rtype, name in _stale(cluster, objects, environment):
        changes.append(Change("delete", rtype.kind, name))
    return changes


def delete_all(cluster: Cluster, environment: str) -> list[Change]:
    changes = []
    for rtype, name in cluster.owned(environment):
        cluster.delete(rtype, name)
        changes.append(Change("deleted", rtype.kind, name))
    return changes
