"""Serving a model straight from versioned data: `modelUri: repo@ref:/path`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
import yaml
from serving_helpers import IRIS_ROW
from sklearn.linear_model import LogisticRegression

from flowyard.data import DataStore
from flowyard.errors import ConfigError, NotFound
from flowyard.serving.client import LocalGraph, predict
from flowyard.serving.sources import SourceContext, resolve
from flowyard.settings import Settings


@pytest.fixture
def store(flowyard_home: Path, tmp_path: Path, iris: tuple[np.ndarray, np.ndarray]
          ) -> Iterator[DataStore]:
    """A `models` repo whose master holds /iris/model.joblib (and /iris/README.md)."""
    X, y = iris
    local = tmp_path / "iris"
    local.mkdir()
    joblib.dump(LogisticRegression(max_iter=500, random_state=0).fit(X, y),
                local / "model.joblib")
    (local / "README.md").write_text("iris, logistic regression\n")
    with DataStore.from_settings(Settings(home=flowyard_home)) as ds:
        ds.create_repo("models")
        ds.put("models@master:/iris", [str(local)])
        yield ds


def write_graph(folder: Path, uri: str) -> Path:
    path = folder / "graph.yaml"
    path.write_text(yaml.safe_dump({
        "apiVersion": "flowyard.dev/v1alpha1", "kind": "InferenceGraph",
        "metadata": {"name": "iris"},
        "spec": {"predictors": [{"name": "main", "graph": {
            "name": "clf", "implementation": "SKLEARN_SERVER", "modelUri": uri}}]}}))
    return path


def serve_and_predict(path: Path, cache: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    with LocalGraph(path, cache_dir=cache, state_dir=cache / "state") as graph:
        assert graph.engine.not_ready() is None
        answer = predict(graph, "iris", [IRIS_ROW])
        meta = graph.get("/v2/models/clf").json()
    return answer, meta


def test_a_model_in_a_repo_is_served_and_pinned_to_its_commit(
        store: DataStore, tmp_path: Path) -> None:
    uri = "models@master:/iris/model.joblib"
    cache = tmp_path / "cache"
    commit = store.resolve("models@master").id
    answer, meta = serve_and_predict(write_graph(tmp_path, uri), cache)
    assert answer["outputs"][0]["data"] == [0]  # setosa
    assert meta["parameters"]["sources"]["clf"] == {
        "modelUri": uri, "repo": "models", "ref": "master", "commit": commit,
        "path": "/iris/model.joblib"}
    cached = cache / "data" / "models" / commit
    assert [p.name for p in cached.rglob("*") if p.is_file()] == ["model.joblib"]
    assert not list(cached.rglob(".*partial*"))  # the temporary folder was renamed away

    # The branch moves: the next load resolves the new commit and fetches it beside the old.
    store.put_bytes("models@master:/iris/README.md", b"v2\n")
    new = store.resolve("models@master").id
    assert new != commit
    _, meta = serve_and_predict(write_graph(tmp_path, uri), cache)
    assert meta["parameters"]["sources"]["clf"]["commit"] == new
    assert sorted(p.name for p in (cache / "data" / "models").iterdir()) == sorted([commit, new])

    # A commit prefix and a folder, then an ancestry ref reusing the file already fetched.
    folder_uri = f"models@{commit[:8]}:/iris"
    ctx = SourceContext(tmp_path, cache)
    path = resolve(folder_uri, ctx)
    assert path.is_dir() and sorted(p.name for p in path.iterdir()) == [
        "README.md", "model.joblib"]
    assert ctx.lineage["commit"] == commit and ctx.lineage["ref"] == commit[:8]
    assert resolve("models@master^:/iris/model.joblib", ctx) == \
        next(cached.glob("*/model.joblib"))


def test_an_unknown_path_leaves_the_node_not_ready_listing_the_files(
        store: DataStore, tmp_path: Path) -> None:
    path = write_graph(tmp_path, "models@master:/iris/modle.joblib")
    with LocalGraph(path, cache_dir=tmp_path / "cache") as graph:
        reason = graph.engine.not_ready()
        status = graph.get("/v2/models/clf/ready").status_code
    assert reason is not None and status != 200
    assert "'models@master:/iris/modle.joblib'" in reason
    assert "'/iris/modle.joblib' not found" in reason and "/iris/model.joblib" in reason
    assert not list((tmp_path / "cache").rglob("*.joblib"))


@pytest.mark.parametrize(("uri", "named", "listed"), [
    ("modls@master:/iris/model.joblib", "repo 'modls'", "did you mean 'models'"),
    ("models@mastr:/iris/model.joblib", "'mastr'", "did you mean 'master'"),
])
def test_an_unknown_repo_or_branch_names_it_and_the_options(
        store: DataStore, tmp_path: Path, uri: str, named: str, listed: str) -> None:
    with pytest.raises(NotFound) as info:
        resolve(uri, SourceContext(tmp_path, tmp_path / "cache"))
    message = str(info.value)
    assert repr(uri) in message and named in message and listed in message


@pytest.mark.parametrize(("uri", "why"), [
    ("models@master^x:/iris/model.joblib", "'master^x'"),
    ("bad!repo@master:/m.joblib", "'bad!repo'"),
    ("models@:/m.joblib", "empty ref"),
    ("models@master:/../m.joblib", "escapes the repo"),
])
def test_malformed_repo_uris_are_a_clear_error(flowyard_home: Path, tmp_path: Path,
                                               uri: str, why: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve(uri, SourceContext(tmp_path, tmp_path / "cache"))
    message = str(info.value)
    assert repr(uri) in message and why in message and "repo@ref:/path" in message
