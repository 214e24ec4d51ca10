"""A Pipeline Workflow's data steps (`python -m flowyard.kube.data_step`), run as the pods
would run them (see kube_pods.py): fetch a `{data}` input, commit an `outputsTo` artifact."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kube_pods import Pods, platform_store, staging_env

from flowyard.kube.argo_workflow import FETCHED, TO_COMMIT
from flowyard.kube.project import load_project
from flowyard.kube.render import render_project

pytestmark = pytest.mark.slow  # five interpreter starts

SOURCE = "def train(data, model):\n    pass\n"


def _workflow(make_project: Callable[..., Path], s3_endpoint: str) -> dict[str, Any]:
    pipeline = {
        "apiVersion": "flowyard.dev/v1alpha1", "kind": "Pipeline",
        "metadata": {"name": "lineage"},
        "spec": {
            "components": {"train": {
                "inputs": {"artifacts": [{"name": "data", "type": "Dataset"}]},
                "outputs": {"artifacts": [{"name": "model", "type": "Model"}]},
                "python": {"function": "train", "source": SOURCE}}},
            "steps": [{"name": "train", "component": "train",
                       "arguments": {"data": {"data": "raw@master:/iris"}},
                       "outputsTo": {"model": "models@master:/iris.bin"}}]}}
    project = make_project([pipeline], environments={"staging": staging_env(s3_endpoint)})
    rendered = render_project(load_project(project), "staging")
    return next(o for o in rendered.objects if o["kind"] == "Workflow")


def test_fetch_then_commit_with_provenance(cluster: dict[str, Any], s3_endpoint: str,
                                           tmp_path: Path,
                                           make_project: Callable[..., Path]) -> None:
    wf = _workflow(make_project, s3_endpoint)
    tasks = {t["name"]: t for t in wf["spec"]["templates"][0]["dag"]["tasks"]}
    fetch_params = {p["name"]: p["value"] for p in tasks["fetch-raw"]["arguments"]["parameters"]}
    commit_params = {p["name"]: p["value"]
                     for p in tasks["train-commit-model"]["arguments"]["parameters"]}
    with platform_store(cluster, s3_endpoint) as ds:
        ds.create_repo("raw")
        ds.create_repo("models")
        with ds.open_commit("raw@master") as c:
            c.put_bytes("iris/a.csv", b"1,2\n")
            c.put_bytes("iris/b.csv", b"3,4\n")
            c.put_bytes("other.txt", b"not fetched")
        read = ds.resolve("raw@master").id

    pods = Pods(wf, cluster, tmp_path)
    fetched = tmp_path / "fetched"
    proc, resolved = pods.run("fetch-data", fetch_params, paths={FETCHED: fetched})
    assert proc.returncode == 0, proc.stderr
    assert resolved == f"raw@{read}"
    assert sorted(p.name for p in fetched.iterdir()) == ["a.csv", "b.csv"]

    # The step's output artifact, as Argo hands it to the commit pod.
    model = tmp_path / "model.bin"
    model.write_bytes(b"weights")
    params = {**commit_params, "provenance": commit_params["provenance"].replace(
        "{{tasks.fetch-raw.outputs.parameters.commit}}", resolved)}
    proc, _ = pods.run("commit-data", params, paths={TO_COMMIT: model})
    assert proc.returncode == 0, proc.stderr
    with platform_store(cluster, s3_endpoint) as ds:
        head = ds.resolve("models@master")
        assert ds.read_bytes("models@master:/iris.bin") == b"weights"
        assert head.origin == "pipeline" and head.provenance == [read]
        assert head.info == {"run": pods.uid, "step": "train", "artifact": "model"}

    # A retried commit pod, or an unchanged model: no new commit.
    proc, _ = pods.run("commit-data", params, paths={TO_COMMIT: model})
    assert proc.returncode == 0 and "no new commit" in proc.stderr
    with platform_store(cluster, s3_endpoint) as ds:
        assert ds.resolve("models@master").id == head.id

    model.write_bytes(b"better weights")
    proc, _ = pods.run("commit-data", params, paths={TO_COMMIT: model})
    assert proc.returncode == 0, proc.stderr
    with platform_store(cluster, s3_endpoint) as ds:
        assert ds.resolve("models@master").parent == head.id
        assert ds.read_bytes("models@master:/iris.bin") == b"better weights"

    proc, _ = pods.run("commit-data", params, paths={TO_COMMIT: tmp_path / "missing"})
    assert proc.returncode == 2 and "produced no artifact 'model'" in proc.stderr


def test_a_folder_already_at_the_path_makes_no_commit(tmp_path: Path) -> None:
    from flowyard.data.repo import DataStore
    from flowyard.kube.data_step import commit
    from flowyard.settings import Settings

    folder = tmp_path / "model"
    (folder / "sub").mkdir(parents=True)
    (folder / "weights.bin").write_bytes(b"w" * 1000)
    (folder / "sub" / "empty.txt").write_bytes(b"")
    with DataStore.from_settings(Settings(home=tmp_path / "home")) as ds:
        ds.create_repo("models")
        kw: dict[str, Any] = {"run": "r1", "step": "train", "artifact": "model",
                              "provenance": []}
        first = commit(ds, folder, "models@master:/m", **kw)
        assert commit(ds, folder, "models@master:/m", **kw) == first
        (folder / "sub" / "empty.txt").unlink()
        second = commit(ds, folder, "models@master:/m", **kw)
        assert second != first
        assert [e.path for e in ds.ls("models@master:/m", recursive=True)] == ["/m/weights.bin"]
