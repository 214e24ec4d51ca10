"""Notebooks, Volumes and VolumeSnapshots rendered for Kubeflow and CSI, and steps with volumes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from flowyard.cli.main import main
from flowyard.errors import InvalidInput
from flowyard.kube.deploy import OWNED_KINDS
from flowyard.kube.errors import Unsupported
from flowyard.kube.project import load_project
from flowyard.kube.render import Rendered, render_project
from flowyard.kube.validate import validate_manifests, validate_object

REPO = Path(__file__).resolve().parents[2]
ENV: dict[str, Any] = {"context": "kind-test", "namespace": "ml",
                       "volumeSnapshotClass": "csi-snapclass"}
ENVS: dict[str, Any] = {"gw": ENV, "emissary": {**ENV, "routes": "emissary"}}


def _res(kind: str, name: str, spec: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"apiVersion": "flowyard.dev/v1alpha1", "kind": kind,
                            "metadata": {"name": name}}
    if spec is not None:
        body["spec"] = spec
    return body


DATASETS = _res("Volume", "datasets", {"size": "50Gi", "shared": True,
                                       "storageClassName": "nfs"})
WS = _res("Volume", "explore-ws", {"size": "20Gi", "source": {"snapshot": "ws-monday"}})
MONDAY = _res("VolumeSnapshot", "ws-monday", {"volume": "datasets"})
EXPLORE = _res("Notebook", "explore", {
    "environment": "pytorch", "resources": {"cpu": "2", "memory": "8Gi", "gpu": 1},
    "volumes": [{"name": "datasets", "mountPath": "/data", "readOnly": True}],
    "workspace": "explore-ws", "idleTimeout": "2h"})


def _render(make_project: Callable[..., Path], resources: list[dict[str, Any]],
            env: str = "gw") -> Rendered:
    return render_project(load_project(make_project(resources, environments=ENVS)), env)


def _kind(rendered: Rendered, kind: str, name: str | None = None) -> dict[str, Any]:
    [obj] = [o for o in rendered.objects
             if o["kind"] == kind and name in (None, o["metadata"]["name"])]
    return obj


def _valid(rendered: Rendered, schemas: Path) -> None:
    problems = validate_manifests([(o, None) for o in rendered.objects], schemas)
    assert not problems, "\n".join(p.render() for p in problems)


def test_notebook_renders_kubeflow_notebook_with_gpu_image_and_volumes(
        schemas: Path, make_project: Callable[..., Path]) -> None:
    rendered = _render(make_project, [DATASETS, WS, MONDAY, EXPLORE])
    _valid(rendered, schemas)
    nb = _kind(rendered, "Notebook")
    assert nb["apiVersion"] == "kubeflow.org/v1"
    assert nb["metadata"]["annotations"] == {"flowyard.dev/idle-timeout": "7200"}
    pod = nb["spec"]["template"]["spec"]
    [box] = pod["containers"]
    assert box["name"] == "explore"
    assert box["image"] == "kubeflownotebookswg/jupyter-pytorch-cuda-full:v1.9.2"
    assert box["resources"] == {"requests": {"cpu": "2", "memory": "8Gi"},
                                "limits": {"cpu": "2", "memory": "8Gi", "nvidia.com/gpu": 1}}
    assert box["ports"] == [{"name": "notebook-port", "containerPort": 8888, "protocol": "TCP"}]
    assert box["volumeMounts"] == [
        {"name": "workspace", "mountPath": "/home/jovyan"},
        {"name": "vol-datasets", "mountPath": "/data", "readOnly": True}]
    assert pod["volumes"] == [
        {"name": "workspace", "persistentVolumeClaim": {"claimName": "explore-ws"}},
        {"name": "vol-datasets",
         "persistentVolumeClaim": {"claimName": "datasets", "readOnly": True}}]
    # a named workspace Volume: no claim of the notebook's own
    assert not [o for o in rendered.objects if o["metadata"]["name"] == "explore-workspace"]
    assert any("CULL_IDLE_TIME" in w for w in rendered.warnings)


def test_cpu_notebook_gets_its_own_workspace_claim(
        schemas: Path, make_project: Callable[..., Path]) -> None:
    rendered = _render(make_project, [_res("Notebook", "scratch",
                                           {"environment": "scientific", "idleTimeout": "1d"})])
    _valid(rendered, schemas)
    box = _kind(rendered, "Notebook")["spec"]["template"]["spec"]["containers"][0]
    assert box["image"] == "kubeflownotebookswg/jupyter-scipy:v1.9.2"
    assert "resources" not in box
    claim = _kind(rendered, "PersistentVolumeClaim", "scratch-workspace")
    assert claim["spec"] == {"accessModes": ["ReadWriteOnce"],
                             "resources": {"requests": {"storage": "10Gi"}}}
    assert claim["metadata"]["labels"]["app.kubernetes.io/name"] == "scratch"
    assert not any("CULL_IDLE_TIME" in w for w in rendered.warnings)  # one day: Kubeflow's


@pytest.mark.parametrize("env", ["gw", "emissary"])
def test_notebook_route_keeps_the_prefix_and_allows_websockets(
        env: str, schemas: Path, make_project: Callable[..., Path]) -> None:
    rendered = _render(make_project, [_res("Notebook", "scratch")], env)
    _valid(rendered, schemas)
    if env == "emissary":
        mapping = _kind(rendered, "Mapping")
        assert mapping["spec"] == {"hostname": "*", "prefix": "/notebook/ml/scratch/",
                                   "rewrite": "/notebook/ml/scratch/",
                                   "service": "scratch.ml:80", "allow_upgrade": ["websocket"]}
    else:
        route = _kind(rendered, "HTTPRoute")
        [rule] = route["spec"]["rules"]
        assert rule["matches"] == [{"path": {"type": "PathPrefix",
                                             "value": "/notebook/ml/scratch/"}}]
        assert "filters" not in rule  # Jupyter serves under the prefix itself
        assert rule["backendRefs"] == [{"name": "scratch", "port": 80}]


def test_volumes_become_claims_and_snapshots(schemas: Path,
                                             make_project: Callable[..., Path]) -> None:
    rendered = _render(make_project, [DATASETS, WS, MONDAY])
    _valid(rendered, schemas)
    assert _kind(rendered, "PersistentVolumeClaim", "datasets")["spec"] == {
        "accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "50Gi"}},
        "storageClassName": "nfs"}
    ws = _kind(rendered, "PersistentVolumeClaim", "explore-ws")["spec"]
    assert ws["accessModes"] == ["ReadWriteOnce"]
    assert ws["dataSource"] == {"apiGroup": "snapshot.storage.k8s.io",
                                "kind": "VolumeSnapshot", "name": "ws-monday"}
    snap = _kind(rendered, "VolumeSnapshot")
    assert snap["apiVersion"] == "snapshot.storage.k8s.io/v1"
    assert snap["spec"] == {"source": {"persistentVolumeClaimName": "datasets"},
                            "volumeSnapshotClassName": "csi-snapclass"}


def test_snapshot_schema_refuses_a_bad_source(schemas: Path) -> None:
    bad = {"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
           "metadata": {"name": "s"},
           "spec": {"source": {"persistentVolumeClaimName": "a",
                               "volumeSnapshotContentName": "b"}, "typo": 1}}
    messages = " ".join(p.message for p in validate_object(bad, schemas=schemas))
    assert "is valid under each of" in messages and "'typo' was unexpected" in messages


def test_undeclared_snapshot_source_warns(make_project: Callable[..., Path]) -> None:
    rendered = _render(make_project, [WS])
    assert any("source snapshot 'ws-monday' is not declared" in w for w in rendered.warnings)


@pytest.mark.parametrize(("resources", "error", "message"), [
    ([_res("Notebook", "nb", {"volumes": [{"name": "missing", "mountPath": "/m"}]}),
      DATASETS], InvalidInput,
     r"Notebook 'nb' \(.*\) in environment 'gw': spec.volumes\[0\].name names Volume "
     r"'missing', which the project does not declare \(declared: datasets\)"),
    ([_res("Notebook", "nb", {"workspace": "ws"})], InvalidInput,
     r"spec.workspace names Volume 'ws', which the project does not declare"),
    ([_res("Notebook", "nb", {"environment": "scientific", "resources": {"gpu": 2}})],
     Unsupported, r"Notebook 'nb' at .*: GPUs \(resources.gpu: 2\) in notebook environment "
                  r"'scientific'.* has no equivalent in environment 'gw'"),
    ([DATASETS, _res("Notebook", "nb", {"volumes": [{"name": "datasets",
                                                     "mountPath": "/home/jovyan"}]})],
     InvalidInput, r"mounts Volume 'datasets' at /home/jovyan, where the workspace is"),
    ([_res("Volume", "raw", {"source": {"data": "images@master:/png"}})], Unsupported,
     r"Volume 'raw' at .* spec.source.data: starting a volume from a data commit "
     r"\(source.data: 'images@master:/png'\) has no equivalent in environment 'gw'"),
    ([_res("VolumeSnapshot", "s", {"volume": "nope"})], InvalidInput,
     r"VolumeSnapshot 's' .* spec.volume names Volume 'nope', which the project does not "
     r"declare"),
])
def test_bad_references_are_errors_naming_resource_field_and_environment(
        resources: list[dict[str, Any]], error: type[Exception], message: str,
        make_project: Callable[..., Path]) -> None:
    with pytest.raises(error, match=message):
        _render(make_project, resources)


def test_single_writer_volume_in_two_notebooks_warns(make_project: Callable[..., Path]) -> None:
    ws = _res("Volume", "team")
    nbs = [_res("Notebook", n, {"volumes": [{"name": "team", "mountPath": "/team"}]})
           for n in ("a", "b")]
    rendered = _render(make_project, [ws, *nbs])
    assert any("Volume 'team' is ReadWriteOnce" in w and "a, b" in w for w in rendered.warnings)


STEP_PIPELINE: dict[str, Any] = {
    "apiVersion": "flowyard.dev/v1alpha1", "kind": "Pipeline", "metadata": {"name": "prep"},
    "spec": {
        "components": {"touch": {"container": {"image": "busybox:1.36",
                                               "command": ["sh", "-c", "touch $OUT/x"]}}},
        "steps": [{"name": "write", "component": "touch",
                   "volumes": [{"name": "datasets", "mountPath": "/data"},
                               {"name": "explore-ws", "readOnly": True}]}]},
}


def test_pipeline_step_volumes_mount_the_claims(schemas: Path,
                                                make_project: Callable[..., Path]) -> None:
    rendered = _render(make_project, [DATASETS, WS, STEP_PIPELINE])
    _valid(rendered, schemas)
    wf = _kind(rendered, "Workflow")
    assert wf["spec"]["volumes"] == [
        {"name": "vol-datasets", "persistentVolumeClaim": {"claimName": "datasets"}},
        {"name": "vol-explore-ws", "persistentVolumeClaim": {"claimName": "explore-ws"}}]
    box = next(t for t in wf["spec"]["templates"] if t["name"] == "write")["container"]
    assert box["volumeMounts"] == [
        {"name": "vol-datasets", "mountPath": "/data"},
        {"name": "vol-explore-ws", "mountPath": "/flowyard/volumes/explore-ws",
         "readOnly": True}]
    env = {e["name"]: e["value"] for e in box["env"]}
    assert env == {"FLOWYARD_VOLUME_DATASETS": "/data",
                   "FLOWYARD_VOLUME_EXPLORE_WS": "/flowyard/volumes/explore-ws"}


def test_pipeline_step_with_undeclared_volume_is_an_error(
        make_project: Callable[..., Path]) -> None:
    with pytest.raises(InvalidInput, match=r"Pipeline 'prep' spec.steps\[0\] \(write\)"
                       r".volumes\[0\] in environment 'gw': Volume 'datasets' is not declared"):
        _render(make_project, [STEP_PIPELINE])


def test_deploy_prunes_the_new_kinds() -> None:
    kinds = {k for _, k in OWNED_KINDS}
    assert {"Notebook", "PersistentVolumeClaim", "VolumeSnapshot"} <= kinds


def test_render_cli_writes_notebook_objects_and_kustomization(
        tmp_path: Path, schemas: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    try:
        main(["render", "--env", "staging", "--project",
              str(REPO / "examples" / "workspace" / "flowyard.yaml"), "-o", str(out)])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    err = capsys.readouterr().err
    assert code == 0, err
    listed = yaml.safe_load((out / "kustomization.yaml").read_text())["resources"]
    assert {"notebook-explore.yaml", "persistentvolumeclaim-datasets.yaml",
            "persistentvolumeclaim-explore-ws.yaml", "volumesnapshot-datasets-monday.yaml",
            "mapping-notebook-explore.yaml"} <= set(listed)
    assert sorted(p.name for p in out.iterdir()) == sorted([*listed, "kustomization.yaml"])
