"""Serving a model straight from a pipeline run: `modelUri: run:<run-id>/[<step>/]<name>`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from serving_helpers import HERE, IRIS_ROW

from flowyard.errors import ConfigError, NotFound
from flowyard.serving.client import LocalGraph, predict
from flowyard.serving.sources import parse_run_uri

PIPELINE = f"{HERE / 'model_pipeline.py'}:iris_train"


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """(FLOWYARD_HOME, run id) of one real run of the tiny training pipeline."""
    from flowyard import Client

    home = tmp_path_factory.mktemp("run-home")
    with pytest.MonkeyPatch.context() as mp:
        for name in ("FLOWYARD_DATABASE_URL", "FLOWYARD_OBJECT_STORE_URL",
                     "FLOWYARD_S3_ENDPOINT_URL", "FLOWYARD_SERVER"):
            mp.delenv(name, raising=False)
        mp.setenv("FLOWYARD_HOME", str(home))
        with Client() as client:
            run = client.run(PIPELINE)
        assert run.state == "Succeeded", run.error
        yield home, run.id


@pytest.fixture
def home(trained: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("FLOWYARD_DATABASE_URL", "FLOWYARD_OBJECT_STORE_URL",
                 "FLOWYARD_S3_ENDPOINT_URL", "FLOWYARD_SERVER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FLOWYARD_HOME", str(trained[0]))
    return trained[0]


def write_graph(folder: Path, uri: str, name: str = "iris") -> Path:
    path = folder / "graph.yaml"
    path.write_text(yaml.safe_dump({
        "apiVersion": "flowyard.dev/v1alpha1", "kind": "InferenceGraph",
        "metadata": {"name": name},
        "spec": {"predictors": [{"name": "main", "graph": {
            "name": "clf", "implementation": "SKLEARN_SERVER", "modelUri": uri}}]}}))
    return path


def serve_and_predict(path: Path, cache: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    with LocalGraph(path, cache_dir=cache, state_dir=cache / "state") as graph:
        answer = predict(graph, "iris", [IRIS_ROW])
        meta = graph.get("/v2/models/clf").json()
    return answer, meta


@pytest.mark.parametrize("form", ["output", "step"])
def test_a_model_trained_by_a_run_is_served_by_run_uri(
        home: Path, trained: tuple[Path, str], tmp_path: Path, form: str) -> None:
    run_id = trained[1]
    uri = f"run:{run_id}/model" if form == "output" else f"run:{run_id}/fit/model"
    answer, meta = serve_and_predict(write_graph(tmp_path, uri), tmp_path / "cache")
    assert answer["outputs"][0]["data"] == [0]  # setosa
    source = meta["parameters"]["sources"]["clf"]
    assert source["runId"] == run_id and source["modelUri"] == uri
    assert source["stepId"] == ("copy-model" if form == "output" else "fit")
    assert source["artifact"] == "model" and source["type"] == "Model"
    assert source["digest"].startswith("blake3:")
    from flowyard import Client

    with Client() as client:
        digests = {a.digest for a in client.artifacts(run_id) if a.name == "model"}
    assert source["digest"] in digests
    # materialized once, by digest, under the cache folder
    assert next((tmp_path / "cache" / "runs").iterdir()).name == \
        source["digest"].replace(":", "-")


def test_unknown_run_lists_the_recent_ones(home: Path, trained: tuple[Path, str],
                                           tmp_path: Path) -> None:
    path = write_graph(tmp_path, "run:no-such-run/model")
    with LocalGraph(path, cache_dir=tmp_path / "cache") as graph:
        reason = graph.engine.not_ready()
    assert reason is not None
    assert "no run 'no-such-run'" in reason and trained[1] in reason


def test_unknown_artifact_lists_what_the_run_has(home: Path, trained: tuple[Path, str],
                                                 tmp_path: Path) -> None:
    from flowyard.serving.sources import SourceContext, resolve

    ctx = SourceContext(tmp_path, tmp_path / "cache")
    with pytest.raises(NotFound) as info:
        resolve(f"run:{trained[1]}/weights", ctx)
    assert "'weights'" in str(info.value)
    assert "copy-model/model" in str(info.value) and "fit/model" in str(info.value)
    with pytest.raises(NotFound) as info:
        resolve(f"run:{trained[1]}/train/model", ctx)
    assert "'train/model'" in str(info.value) and "fit/model" in str(info.value)


def test_an_ambiguous_name_asks_for_the_step(home: Path, trained: tuple[Path, str],
                                             tmp_path: Path) -> None:
    from flowyard.serving import sources
    from flowyard.settings import Settings
    from flowyard.store.metadata import MetadataStore

    with MetadataStore.from_settings(Settings()) as store:
        run = store.get_run(trained[1])
        artifacts = store.list_artifacts(run_id=run.id)
    run.outputs = {}  # without the pipeline output, two step artifacts match "model"
    with pytest.raises(ConfigError) as info:
        sources._pick_artifact(f"run:{run.id}/model", run, artifacts, None, "model")
    message = str(info.value)
    assert f"run:{run.id}/fit/model" in message and f"run:{run.id}/copy-model/model" in message


@pytest.mark.parametrize("uri", ["run:", "run:abc", "run:a/b/c/d", "run:a//b"])
def test_malformed_run_uris_are_rejected(uri: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_run_uri(uri)
    assert repr(uri) in str(info.value)
