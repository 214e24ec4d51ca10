"""Pipelines reading `repo@ref:/path` and writing artifacts into repos: lineage end to end."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flowyard import dsl
from flowyard.data import DataStore
from flowyard.data.lineage import runs_reading
from flowyard.dsl import Dataset, Input, Model, Output
from flowyard.errors import InvalidInput, PipelineInvalid
from flowyard.pipelines.engine import Engine
from flowyard.pipelines.validate import validate_pipeline
from flowyard.resources.pipeline import Pipeline
from flowyard.settings import Settings
from flowyard.store.metadata import MetadataStore
from flowyard.store.objects import ObjectStore

IRIS_V1 = b"sepal,petal,species\n5.1,1.4,setosa\n7.0,4.7,versicolor\n"
IRIS_V2 = IRIS_V1 + b"6.3,6.0,virginica\n"


@dsl.component
def train(data: Input[Dataset], model: Output[Model], fail_if: str = "") -> int:
    import json
    import os

    if fail_if and os.path.exists(fail_if):
        raise RuntimeError("asked to fail")
    with open(data.path) as handle:
        rows = handle.read().splitlines()[1:]
    os.makedirs(model.path, exist_ok=True)
    with open(os.path.join(model.path, "model.json"), "w") as handle:
        json.dump({"rows": len(rows), "classes": sorted({r.split(",")[-1] for r in rows})},
                  handle)
    return len(rows)


@dsl.pipeline(name="iris-lineage")
def iris(fail_if: str = "") -> None:
    task = train(data=dsl.DataInput("raw@master:/iris.csv"), fail_if=fail_if)
    task.set_output_to("model", "models@master:/iris")


@pytest.fixture
def ds(metadata: MetadataStore, objects: ObjectStore, settings: Settings) -> Iterator[DataStore]:
    store = DataStore(metadata, objects, settings)
    store.create_repo("raw")
    store.create_repo("models")
    store.put_bytes("raw@master:/iris.csv", IRIS_V1)
    yield store
    store.close()


def _model(ds: DataStore) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(ds.read_bytes("models@master:/iris/model.json"))
    return result


def test_lineage_from_raw_commit_through_the_run_to_the_model(
        engine: Engine, ds: DataStore, metadata: MetadataStore) -> None:
    raw = ds.resolve("raw@master")
    run = engine.run(dsl.compile(iris))
    assert run.state == "Succeeded", run.error
    assert _model(ds) == {"rows": 2, "classes": ["setosa", "versicolor"]}

    step = metadata.get_step(run.id, "train")
    data_art = metadata.get_artifact(step.input_artifacts["data"])
    assert data_art.uri == f"data://raw@{raw.id}:/iris.csv"
    assert data_art.metadata["data"]["commit"] == raw.id

    model_commit = ds.resolve("models@master")
    assert model_commit.origin == "pipeline"
    assert model_commit.provenance == [raw.id]
    assert model_commit.info == {"run": run.id, "step": "train", "artifact": "model"}
    assert [c.id for c in ds.provenance("models@master")] == [raw.id]
    assert [c.id for c in ds.subvenance(f"raw@{raw.id}")] == [model_commit.id]
    model_art = metadata.get_artifact(step.output_artifacts["model"])
    assert model_art.metadata["data_commit"] == f"data://models@{model_commit.id}:/iris"

    reads = runs_reading(ds, [("raw", raw.id)])
    assert [(r.run, r.step, r.input, r.path) for r in reads] == [
        (run.id, "train", "data", "/iris.csv")]


def test_new_data_at_the_same_path_misses_the_cache(engine: Engine, ds: DataStore,
                                                    metadata: MetadataStore) -> None:
    first = engine.run(dsl.compile(iris))
    assert first.state == "Succeeded", first.error
    model = ds.resolve("models@master")
    again = engine.run(dsl.compile(iris))
    assert metadata.get_step(again.id, "train").state == "Cached"
    # The same model from the same data commit: outputsTo makes no new commit.
    assert [c.id for c in ds.log("models@master")] == [model.id]

    ds.put_bytes("raw@master:/notes.txt", b"unrelated")      # a new commit, same iris.csv
    same = engine.run(dsl.compile(iris))
    assert metadata.get_step(same.id, "train").state == "Cached"
    # The same model from a new data commit: a commit recording that lineage.
    relineaged = ds.resolve("models@master")
    assert relineaged.parent == model.id and relineaged.tree == model.tree
    assert relineaged.provenance == [ds.resolve("raw@master").id]

    ds.put_bytes("raw@master:/iris.csv", IRIS_V2)
    changed = engine.run(dsl.compile(iris))
    assert changed.state == "Succeeded", changed.error
    assert metadata.get_step(changed.id, "train").state == "Succeeded"
    assert _model(ds)["rows"] == 3
    assert ds.resolve("models@master").provenance == [ds.resolve("raw@master").id]


def test_retry_reads_the_commit_the_run_resolved_first(engine: Engine, ds: DataStore,
                                                       metadata: MetadataStore,
                                                       tmp_path: Path) -> None:
    marker = tmp_path / "fail"
    marker.write_text("x")
    first_commit = ds.resolve("raw@master").id
    run = engine.run(dsl.compile(iris, {"fail_if": str(marker)}))
    assert run.state == "Failed"
    assert "models" not in {c.repo for c in ds.subvenance(f"raw@{first_commit}")}

    ds.put_bytes("raw@master:/iris.csv", IRIS_V2)            # lands between the attempts
    marker.unlink()
    # retry drives the run in a new driver, as resume does: both read the pinned commit
    again = engine.retry(run.id)
    assert again.state == "Succeeded", again.error
    assert _model(ds)["rows"] == 2
    assert ds.resolve("models@master").provenance == [first_commit]
    arts = [a for a in metadata.list_artifacts(run_id=run.id) if a.uri.startswith("data://")]
    assert [a.metadata["data"]["commit"] for a in arts] == [first_commit]


def test_an_unknown_repo_fails_the_step_naming_input_and_ref(engine: Engine,
                                                             ds: DataStore) -> None:
    @dsl.pipeline(name="typo")
    def typo() -> None:
        train(data=dsl.DataInput("rwa@master:/iris.csv"))

    run = engine.run(dsl.compile(typo))
    assert run.state == "Failed"
    assert "step 'train': input 'data' reads data 'rwa@master:/iris.csv'" in (run.error or "")
    assert "raw" in (run.error or "")               # the "did you mean" hint


def test_an_output_into_a_data_pipelines_repo_fails_the_step(engine: Engine, ds: DataStore,
                                                              metadata: MetadataStore) -> None:
    from flowyard.data.pipelines import DataPipelines

    DataPipelines(ds).create({
        "apiVersion": "flowyard.dev/v1alpha1", "kind": "DataPipeline",
        "metadata": {"name": "gstar"},
        "spec": {"input": {"pfs": {"repo": "raw", "glob": "/*"}},
                 "transform": {"cmd": ["sh", "-c", "true"]}}})

    @dsl.pipeline(name="into-gstar")
    def into_gstar() -> None:
        train(data=dsl.DataInput("raw@master:/iris.csv")).set_output_to("model", "gstar@master:/m")

    run = engine.run(dsl.compile(into_gstar))
    assert run.state == "Failed"
    error = metadata.get_step(run.id, "train").error or ""
    assert "outputsTo: step 'train' could not write 'model' to 'gstar@master:/m'" in error
    assert "repo 'gstar' is the output of DataPipeline/gstar; only it writes there" in error
    assert "flowyard data pipeline delete gstar" in error
    assert ds.list_branches("gstar")[0].head is None


# -- static checks ---------------------------------------------------------------------------

def _yaml_pipeline(arguments: dict[str, Any], **step: Any) -> Pipeline:
    comp = {"inputs": {"artifacts": [{"name": "data", "type": "Dataset"}],
                       "parameters": [{"name": "n", "type": "int", "default": 1}]},
            "outputs": {"artifacts": [{"name": "model", "type": "Model"}]},
            "python": {"function": "f", "source": "def f(data, model, n=1):\n    pass\n"}}
    return Pipeline.model_validate({
        "apiVersion": "flowyard.dev/v1alpha1", "kind": "Pipeline", "metadata": {"name": "p"},
        "spec": {"components": {"c": comp},
                 "steps": [{"name": "s", "component": "c", "arguments": arguments, **step}]}})


def test_yaml_form_round_trips() -> None:
    p = _yaml_pipeline({"data": {"data": "raw@master:/iris.csv"}},
                       outputsTo={"model": "models@master:/iris"})
    assert p.spec.steps[0].arguments["data"].kind == "data"
    body = p.to_dict()["spec"]["steps"][0]
    assert body["outputsTo"] == {"model": "models@master:/iris"}
    assert body["arguments"]["data"] == {"data": "raw@master:/iris.csv"}
    validate_pipeline(p)


@pytest.mark.parametrize(("arguments", "step", "expected"), [
    ({"data": {"data": "raw@@x"}}, {}, ["spec.steps[0].arguments.data.data",
                                        "bad data ref", "raw@@x"]),
    ({"data": {"data": "raw@master:/../etc"}}, {}, ["escapes the repo", "raw@master:/../etc"]),
    ({"data": {"data": "raw@master:/a"}, "n": {"data": "raw@master:/b"}}, {},
     ["parameter input 'n'", "the data 'raw@master:/b'"]),
    ({"data": {"data": "raw@master:/a"}}, {"outputsTo": {"modle": "models@master:/m"}},
     ["outputsTo.modle", "did you mean 'model'"]),
    ({"data": {"data": "raw@master:/a"}}, {"outputsTo": {"model": "models@master^:/m"}},
     ["needs a branch and a path", "models@master^:/m"]),
    ({"data": {"data": "raw@master:/a"}}, {"outputsTo": {"model": "models@master"}},
     ["needs a branch and a path"]),
])
def test_bad_data_refs_are_refused_at_validate_time(arguments: dict[str, Any],
                                                    step: dict[str, Any],
                                                    expected: list[str]) -> None:
    with pytest.raises(PipelineInvalid) as info:
        validate_pipeline(_yaml_pipeline(arguments, **step))
    text = str(info.value) + "".join(p.render() for p in info.value.problems)
    for part in expected:
        assert part in text, text


def test_a_data_ref_with_another_source_is_refused() -> None:
    with pytest.raises(Exception, match="exactly one of"):
        _yaml_pipeline({"data": {"data": "raw@master:/a", "value": 1}})


def test_sdk_errors_name_the_line_and_the_value() -> None:
    with pytest.raises(InvalidInput, match=r"test_datarefs.py:\d+: dsl.DataInput\('raw@'\)"):
        dsl.DataInput("raw@")

    @dsl.pipeline(name="bad-output")
    def bad_output() -> None:
        train(data=dsl.DataInput("raw@master:/iris.csv")).set_output_to("modle", "m@master:/x")

    with pytest.raises(InvalidInput, match=r"test_datarefs.py:\d+: .*'modle' is not an output "
                                           r"artifact.*its output artifacts: model"):
        dsl.compile(bad_output)

    @dsl.pipeline(name="bad-param")
    def bad_param() -> None:
        train(data=dsl.DataInput("raw@master:/iris.csv"),
              fail_if=dsl.DataInput("raw@master:/x"))

    with pytest.raises(InvalidInput, match=r"argument 'fail_if'.*DataInput\('raw@master:/x'\) "
                                           r"is an artifact"):
        dsl.compile(bad_param)


def test_cli_inspect_shows_the_runs_both_ways(flowyard_home: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    import typer

    from flowyard.cli import data as data_cmd

    settings = Settings()
    root = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    root.add_typer(data_cmd.app, name="data")

    @root.callback()
    def _root() -> None:
        """test root"""

    def cli(*args: str) -> str:
        capsys.readouterr()
        root(args=["data", *args], prog_name="flowyard", standalone_mode=False)
        return capsys.readouterr().out

    with MetadataStore.from_settings(settings) as md, DataStore(
            md, ObjectStore.from_settings(settings), settings) as store:
        store.create_repo("raw")
        store.create_repo("models")
        store.put_bytes("raw@master:/iris.csv", IRIS_V1)
        raw = store.resolve("raw@master").id
        with Engine(md, ObjectStore.from_settings(settings), settings, workers=1) as eng:
            run = eng.run(dsl.compile(iris))
        assert run.state == "Succeeded", run.error
        model = store.resolve("models@master").id

    down = json.loads(cli("inspect", f"raw@{raw}", "--subvenance", "-o", "json"))
    assert down["subvenance"] == [f"models@{model}"]
    assert down["read_by_runs"][0] | {"artifact": "-"} == {
        "repo": "raw", "commit": raw, "path": "/iris.csv", "run": run.id, "step": "train",
        "input": "data", "artifact": "-"}
    up = json.loads(cli("inspect", "models@master", "--provenance", "-o", "json"))
    assert up["provenance_closure"] == [f"raw@{raw}"]
    assert up["written_by_runs"] == [{"commit": f"models@{model}", "run": run.id,
                                      "step": "train", "artifact": "model"}]
    table = cli("inspect", f"raw@{raw}", "--subvenance")
    assert f"run {run.id}  step train  input data" in table
    assert f"(run {run.id}, step train)" in table


def test_a_cache_hit_still_writes_its_model_into_the_repo(engine: Engine, ds: DataStore,
                                                          metadata: MetadataStore) -> None:
    v1 = ds.resolve("raw@master").id
    assert engine.run(dsl.compile(iris)).state == "Succeeded"
    ds.put_bytes("raw@master:/iris.csv", IRIS_V2)
    assert engine.run(dsl.compile(iris)).state == "Succeeded"
    assert _model(ds)["rows"] == 3

    @dsl.pipeline(name="iris-v1")
    def iris_v1() -> None:
        train(data=dsl.DataInput(f"raw@{v1}:/iris.csv")).set_output_to(
            "model", "models@master:/iris")

    run = engine.run(dsl.compile(iris_v1))
    assert metadata.get_step(run.id, "train").state == "Cached"
    assert _model(ds)["rows"] == 2                 # models@master holds what the run produced
    assert ds.resolve("models@master").provenance == [v1]
