"""Running a rendered Workflow's in-image steps as their pods would, for the step tests.

Each step is a subprocess of the container's command with exactly the arguments and
environment the rendered Workflow gives it: Argo's placeholders filled in as Argo fills them,
Secret references resolved from a fake Secret store, and the container's fixed paths moved
into the test's folder. Blobs go to a moto S3 server on loopback (the environment's artifact
repository points at it); the database is a SQLite file standing in for PostgreSQL.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from flowyard.data.repo import DataStore
from flowyard.settings import Settings
from flowyard.store.metadata import MetadataStore
from flowyard.store.objects import ObjectStore

BUCKET = "flowyard-art"


def staging_env(s3_endpoint: str) -> dict[str, Any]:
    """An environment whose artifact repository is the moto server."""
    return {"context": "kind-test", "namespace": "ml", "image": "flowyard:test",
            "artifactRepository": {"s3": {
                "bucket": BUCKET, "endpoint": s3_endpoint, "insecure": True,
                "region": "us-east-1", "secret": {"name": "s3-credentials"}}}}


class Pods:
    """Runs a Workflow's templates the way Argo would start their containers."""

    def __init__(self, wf: dict[str, Any], cluster: dict[str, Any], tmp: Path) -> None:
        self.templates = {t["name"]: t for t in wf["spec"]["templates"]}
        self.secrets = cluster["secrets"]
        self.tmp = tmp
        self.uid = str(uuid.uuid4())

    def env(self, container: dict[str, Any]) -> dict[str, str]:
        return container_env(container, self.secrets, self.tmp / "pod-home")

    def run(self, template: str, params: dict[str, str] | None = None,
            workflow: dict[str, str] | None = None,
            paths: dict[str, Path] | None = None,
            ) -> tuple[subprocess.CompletedProcess[str], str | None]:
        """Run one template; `paths` moves container paths (artifacts) to local ones.
        Returns the process and the content of its first output parameter."""
        t = self.templates[template]
        box = t["container"]
        values = {"{{workflow.uid}}": self.uid, **{
            f"{{{{inputs.parameters.{k}}}}}": v for k, v in (params or {}).items()},
            **{f"{{{{workflow.{k}}}}}": v for k, v in (workflow or {}).items()}}
        args = []
        moved = {k: str(v) for k, v in (paths or {}).items()}
        out_file = None
        outputs = t.get("outputs", {}).get("parameters", [])
        if outputs:  # the output parameter's file, inside this "pod"
            out_file = outputs[0]["valueFrom"]["path"]
            moved[out_file] = str(self.tmp / f"pod-{uuid.uuid4().hex}" / Path(out_file).name)
            out_file = moved[out_file]
        for arg in box["args"]:
            for key, value in values.items():
                arg = arg.replace(key, value)
            assert "{{" not in arg, f"unfilled placeholder in {arg}"
            args.append(moved.get(arg, arg))
        proc = subprocess.run([sys.executable, *box["command"][1:], *args], env=self.env(box),
                              capture_output=True, text=True, timeout=120, check=False)
        value = Path(out_file).read_text() if out_file and Path(out_file).exists() else None
        return proc, value


def container_env(container: dict[str, Any], secrets: dict[str, dict[str, str]],
                  home: Path) -> dict[str, str]:
    """The container's environment, Secret references resolved from `secrets`."""
    out = {"PATH": os.environ["PATH"]}
    for item in container.get("env", []):
        if "value" in item:
            out[item["name"]] = item["value"]
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            out[item["name"]] = secrets[ref["name"]][ref["key"]]
    # A pod's /tmp is its own: keep the caches of these "pods" apart from other tests.
    out["FLOWYARD_HOME"] = str(home)
    return out


def start_server(box: dict[str, Any], volumes: list[dict[str, Any]],
                 objects: list[dict[str, Any]], cluster: dict[str, Any], tmp: Path,
                 port: int) -> tuple[subprocess.Popen[str], Path]:
    """Start a long-running container (a model server) as its pod would: the ConfigMaps its
    volumes name written into folders that stand in for the mounts, its environment, and its
    own port (a pod has its own network; here `port` replaces the container's and the
    server listens on loopback). Returns the process and its stderr log; stop it yourself."""
    config_maps = {o["metadata"]["name"]: o for o in objects if o["kind"] == "ConfigMap"}
    by_volume = {v["name"]: v for v in volumes}
    mounts: dict[str, Path] = {}
    for mount in box.get("volumeMounts", []):
        source = by_volume[mount["name"]]["configMap"]["name"]
        folder = tmp / f"mount-{uuid.uuid4().hex[:8]}"
        folder.mkdir(parents=True)
        for key, text in config_maps[source]["data"].items():
            (folder / key).write_text(text)
        mounts[mount["mountPath"]] = folder
    [declared] = [str(p["containerPort"]) for p in box["ports"]]
    args = []
    for arg in box["args"]:
        for path, folder in mounts.items():
            if arg == path or arg.startswith(path + "/"):
                arg = str(folder) + arg[len(path):]
        args.append({"0.0.0.0": "127.0.0.1", declared: str(port)}.get(arg, arg))
    assert box["command"][0] == "python", box["command"]
    log = tmp / f"server-{uuid.uuid4().hex[:8]}.log"
    with log.open("w") as err:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen([sys.executable, *box["command"][1:], *args],
                                env=container_env(box, cluster["secrets"], tmp / "server-home"),
                                stdout=subprocess.DEVNULL, stderr=err, text=True)
    return proc, log


def platform_store(cluster: dict[str, Any], s3_endpoint: str) -> DataStore:
    """The platform's view of the same database and bucket."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    objects = ObjectStore(f"s3://{BUCKET}/flowyard", storage_options={
        "client_kwargs": {"endpoint_url": f"http://{s3_endpoint}"},
        "key": "testing", "secret": "testing", "skip_instance_cache": True})
    meta = MetadataStore(cluster["secrets"]["flowyard-database"]["url"])
    return DataStore(meta, objects, Settings(), owns_stores=True)
