"""The Flowyard platform itself on Kubernetes (`flowyard render platform --env E`).

Core objects (https://kubernetes.io/docs/reference/kubernetes-api/): a ServiceAccount, a
Role and RoleBinding letting the server create the workloads it renders in its own
namespace, a ConfigMap with the non-secret settings, a Deployment whose database URL and
S3 credentials come from Secrets the operator creates (never rendered, so no secret ever
lands in a repository), a Service, and a route to the API. The Dockerfile for the image
is written next to the manifests.
"""

from __future__ import annotations

from typing import Any

from flowyard.kube.context import Manifest, RenderContext
from flowyard.kube.routes import build_route

NAME = "flowyard"
PORT = 8470
DATABASE_SECRET = "flowyard-database"
"""Secret with key `url`: the PostgreSQL URL (postgresql://user:pass@host/db)."""
API_PREFIX = "/flowyard/"
EXTRAS = "postgres,s3,kube,sklearn"

# What the server creates or watches in its namespace (Argo, KServe, Seldon, Kubeflow).
RULES: list[dict[str, Any]] = [
    {"apiGroups": ["argoproj.io"], "resources": ["workflows", "workflowtemplates"],
     "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]},
    {"apiGroups": ["serving.kserve.io"], "resources": ["inferenceservices"],
     "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]},
    {"apiGroups": ["machinelearning.seldon.io"], "resources": ["seldondeployments"],
     "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]},
    {"apiGroups": ["kubeflow.org"], "resources": ["notebooks"],
     "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]},
    # Notebooks' workspaces and their snapshots.
    {"apiGroups": [""], "resources": ["persistentvolumeclaims"],
     "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]},
    {"apiGroups": ["snapshot.storage.k8s.io"], "resources": ["volumesnapshots"],
     "verbs": ["get", "list", "watch", "create", "delete"]},
    {"apiGroups": [""], "resources": ["configmaps"],
     "verbs": ["get", "list", "create", "update", "patch", "delete"]},
    {"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list", "watch"]},
]


def _meta(ctx: RenderContext, kind: str, name: str = NAME) -> dict[str, Any]:
    return ctx.meta(name, NAME, kind)


def _selector(ctx: RenderContext) -> dict[str, str]:
    return {"app.kubernetes.io/name": NAME, "flowyard.dev/environment": ctx.env_name}


def settings_env(ctx: RenderContext) -> dict[str, str]:
    """Non-secret settings for the ConfigMap."""
    data = {"FLOWYARD_HOME": "/var/lib/flowyard"}
    repo = ctx.env.artifact_repository
    if repo is not None:
        s3 = repo.s3
        data["FLOWYARD_OBJECT_STORE_URL"] = f"s3://{s3.bucket}/{s3.key_prefix}"
        if s3.endpoint:
            scheme = "http" if s3.insecure else "https"
            data["FLOWYARD_S3_ENDPOINT_URL"] = f"{scheme}://{s3.endpoint}"
        if s3.region:
            data["AWS_DEFAULT_REGION"] = s3.region
    return data


def secret_env(ctx: RenderContext) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [{"name": "FLOWYARD_DATABASE_URL", "valueFrom": {
        "secretKeyRef": {"name": DATABASE_SECRET, "key": "url"}}}]
    repo = ctx.env.artifact_repository
    if repo is not None and repo.s3.secret is not None:
        sec = repo.s3.secret
        env += [{"name": "AWS_ACCESS_KEY_ID", "valueFrom": {
                    "secretKeyRef": {"name": sec.name, "key": sec.access_key}}},
                {"name": "AWS_SECRET_ACCESS_KEY", "valueFrom": {
                    "secretKeyRef": {"name": sec.name, "key": sec.secret_key}}}]
    return env


STEP_HOME = "/tmp/flowyard"
"""FLOWYARD_HOME in step pods: caches only, so the container's own writable /tmp will do."""


def store_container(ctx: RenderContext, module: str, args: list[str]) -> dict[str, Any]:
    """A step container in the environment's image that reaches the platform's data store
    (blobs in the environment's S3 bucket, the database URL from the Secret), the way the
    in-image entry points `flowyard.kube.datum_step` and `flowyard.kube.data_step` expect."""
    env = [{"name": k, "value": v}
           for k, v in {**settings_env(ctx), "FLOWYARD_HOME": STEP_HOME}.items()]
    box: dict[str, Any] = {"image": ctx.env.image, "command": ["python", "-m", module],
                           "args": args, "env": env + secret_env(ctx)}
    if ctx.env.image_pull_policy:
        box["imagePullPolicy"] = ctx.env.image_pull_policy
    return box


def build_platform(ctx: RenderContext) -> list[Manifest]:
    """ServiceAccount, Role, RoleBinding, ConfigMap, Deployment, Service and API route."""
    account = NAME  # its own account: the Workflow one (serviceAccount) runs steps
    pod_labels = {**_meta(ctx, "Platform")["labels"]}
    container: dict[str, Any] = {
        "name": "server", "image": ctx.env.image,
        "command": ["python", "-m", "flowyard.platform", "--host", "0.0.0.0",
                    "--port", str(PORT)],
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "envFrom": [{"configMapRef": {"name": f"{NAME}-settings"}}],
        "env": secret_env(ctx),
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"},
                          "periodSeconds": 20},
        "volumeMounts": [{"name": "home", "mountPath": "/var/lib/flowyard"}],
    }
    if ctx.env.image_pull_policy:
        container["imagePullPolicy"] = ctx.env.image_pull_policy
    objects: list[Manifest] = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(ctx, "Platform",
                                                                         account)},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
         "metadata": _meta(ctx, "Platform"), "rules": RULES},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": _meta(ctx, "Platform"),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": NAME},
         "subjects": [{"kind": "ServiceAccount", "name": account,
                       "namespace": ctx.namespace}]},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(ctx, "Platform",
                                                                    f"{NAME}-settings"),
         "data": settings_env(ctx)},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(ctx, "Platform"),
         "spec": {"replicas": 1, "selector": {"matchLabels": _selector(ctx)},
                  "template": {"metadata": {"labels": pod_labels},
                               "spec": {"serviceAccountName": account,
                                        "containers": [container],
                                        "volumes": [{"name": "home", "emptyDir": {}}]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": _meta(ctx, "Platform"),
         "spec": {"selector": _selector(ctx),
                  "ports": [{"name": "http", "port": 80, "targetPort": "http",
                             "protocol": "TCP"}]}},
        build_route(f"{NAME}-api", NAME, "Platform", API_PREFIX, NAME, 80, ctx),
    ]
    return objects


def dockerfile(extras: str = EXTRAS) -> str:
    """The image step, serving, notebook and server containers run."""
    return (
        "# Flowyard image: the platform server and the runtime of Python steps,\n"
        "# flowyard-served models and notebooks. Add your components' packages below.\n"
        "FROM python:3.11-slim\n"
        "ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1\n"
        f'RUN pip install "flowyard[{extras}]"\n'
        "# RUN pip install your-packages\n"
        "RUN useradd --create-home --uid 1000 flowyard\n"
        "USER 1000\n"
        "WORKDIR /home/flowyard\n"
        f"EXPOSE {PORT}\n"
        f'CMD ["python", "-m", "flowyard.platform", "--host", "0.0.0.0", "--port", "{PORT}"]\n'
    )
