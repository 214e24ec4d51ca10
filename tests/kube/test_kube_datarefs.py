"""Versioned-data wiring on Argo: `{data}` inputs become fetch tasks, `outputsTo` commit tasks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from flowyard.kube.errors import Unsupported
from flowyard.kube.project import load_project
from flowyard.kube.render import render_project
from flowyard.kube.validate import validate_manifests

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart"
SOURCE = "def train(data, model):\n    pass\n"
COMMIT = "{{tasks.fetch-raw.outputs.parameters.commit}}"


def lineage_pipeline(*steps: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "flowyard.dev/v1alpha1", "kind": "Pipeline",
        "metadata": {"name": "lineage"},
        "spec": {
            "components": {"train": {
                "inputs": {"artifacts": [{"name": "data", "type": "Dataset"}]},
                "outputs": {"artifacts": [{"name": "model", "type": "Model"}]},
                "python": {"function": "train", "source": SOURCE}}},
            "steps": [{"component": "train", **step} for step in steps],
        },
    }


def _workflow(project: Path, schemas: Path | None = None) -> dict[str, Any]:
    rendered = render_project(load_project(project), "staging")
    if schemas is not None:
        problems = validate_manifests([(o, None) for o in rendered.objects], schemas)
        assert not problems, "\n".join(p.render() for p in problems)
    return next(o for o in rendered.objects if o["kind"] == "Workflow")


def _tasks(wf: dict[str, Any]) -> dict[str, dict[str, Any]]:
    main = next(t for t in wf["spec"]["templates"] if t["name"] == "main")
    return {t["name"]: t for t in main["dag"]["tasks"]}


def _params(task: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["value"] for p in task["arguments"]["parameters"]}


def test_quickstart_pipeline_fetches_and_commits(schemas: Path, tmp_path: Path) -> None:
    """The quickstart's own resource files and cluster environment, unedited."""
    body = yaml.safe_load((QUICKSTART / "flowyard.yaml").read_text())
    body["components"] = [str(QUICKSTART / "features.yaml"), str(QUICKSTART / "train.yaml")]
    (tmp_path / "flowyard.yaml").write_text(yaml.safe_dump(body))
    rendered = render_project(load_project(tmp_path / "flowyard.yaml"), "cluster")
    problems = validate_manifests([(o, None) for o in rendered.objects], schemas)
    assert not problems, "\n".join(p.render() for p in problems)
    wf = next(o for o in rendered.objects
              if o["kind"] == "Workflow" and o["metadata"]["name"] == "train-cancer")
    tasks = _tasks(wf)
    assert _params(tasks["fetch-features"]) == {"ref": "features@master:/"}
    assert tasks["fetch-features"]["template"] == "fetch-data"
    assert "fetch-features" in tasks["split"]["dependencies"]
    assert {"name": "features", "from": "{{tasks.fetch-features.outputs.artifacts.data}}"} \
        in tasks["split"]["arguments"]["artifacts"]
    for step, target in (("train-model", "models@master:/logreg"),
                         ("train-model-2", "models@master:/texture")):
        commit = tasks[f"{step}-commit-model"]
        assert commit["template"] == "commit-data"
        assert commit["depends"] == f"{step}.Succeeded && fetch-features"
        assert _params(commit) == {
            "target": target, "step": step, "artifact": "model",
            "provenance": "{{tasks.fetch-features.outputs.parameters.commit}}"}
        assert commit["arguments"]["artifacts"] == [
            {"name": "data", "from": f"{{{{tasks.{step}.outputs.artifacts.model}}}}"}]
    templates = {t["name"]: t for t in wf["spec"]["templates"]}
    for name in ("fetch-data", "commit-data"):
        box = templates[name]["container"]
        assert box["command"] == ["python", "-m", "flowyard.kube.data_step"]
        assert box["image"] == "ghcr.io/flowyard/flowyard:0.1.0"
        secrets = {e["name"]: e["valueFrom"]["secretKeyRef"]["name"]
                   for e in box["env"] if "valueFrom" in e}
        assert secrets["FLOWYARD_DATABASE_URL"] == "flowyard-database"
    assert templates["fetch-data"]["outputs"]["parameters"][0]["name"] == "commit"
    assert wf["spec"]["artifactRepositoryRef"]["key"] == "default"


def test_a_ref_named_twice_is_fetched_once(schemas: Path,
                                           make_project: Callable[..., Path]) -> None:
    pipeline = lineage_pipeline(
        {"name": "a", "arguments": {"data": {"data": "raw@master:/iris.csv"}}},
        {"name": "b", "arguments": {"data": {"data": "raw@master:/iris.csv"}},
         "outputsTo": {"model": "models@master:/b"}},
        {"name": "c", "arguments": {"data": {"data": "raw@v2:/iris.csv"}}})
    tasks = _tasks(_workflow(make_project([pipeline]), schemas))
    fetches = {n: _params(t)["ref"] for n, t in tasks.items() if t["template"] == "fetch-data"}
    assert fetches == {"fetch-raw": "raw@master:/iris.csv", "fetch-raw-2": "raw@v2:/iris.csv"}
    assert tasks["a"]["dependencies"] == tasks["b"]["dependencies"] == ["fetch-raw"]
    assert tasks["c"]["dependencies"] == ["fetch-raw-2"]
    # The commit's provenance is every commit the run reads, as locally.
    assert _params(tasks["b-commit-model"])["provenance"] == \
        f"{COMMIT},{COMMIT.replace('fetch-raw', 'fetch-raw-2')}"


def test_an_exit_handler_reading_data_is_refused(make_project: Callable[..., Path]) -> None:
    pipeline = lineage_pipeline({"name": "train",
                                 "arguments": {"data": {"data": "raw@master:/iris.csv"}}})
    pipeline["spec"]["onExit"] = {"name": "report", "component": "train",
                                  "arguments": {"data": {"data": "raw@master:/iris.csv"}}}
    with pytest.raises(Unsupported) as err:
        _workflow(make_project([pipeline]))
    assert "spec.onExit.arguments.data" in err.value.message
    assert "an exit handler reading a data ref" in err.value.message
