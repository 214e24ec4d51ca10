"""Serving fixtures: tiny real models trained here, engines built from dicts, a live server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from serving_helpers import (
    HERE,
    LiveServer,
    graph_of,
    start_server,
    stop_server,
)
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from flowyard.serving import GraphEngine, MemoryStateStore
from net_helpers import free_port, wait_http


@pytest.fixture(scope="session")
def iris() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_iris(return_X_y=True)
    return X, y


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory, iris: tuple[np.ndarray, np.ndarray]
           ) -> Path:
    """A folder with iris models: lr.joblib, tree.pkl, dir/model.joblib."""
    X, y = iris
    folder = tmp_path_factory.mktemp("models")
    lr = LogisticRegression(max_iter=500, random_state=0).fit(X, y)
    joblib.dump(lr, folder / "lr.joblib")
    import pickle

    with (folder / "tree.pkl").open("wb") as fh:
        pickle.dump(DecisionTreeClassifier(random_state=0, max_depth=3).fit(X, y), fh)
    (folder / "dir").mkdir()
    joblib.dump(lr, folder / "dir" / "model.joblib")
    (folder / "broken.joblib").write_bytes(b"not a pickle")
    return folder


@pytest.fixture
def make_engine(models: Path, tmp_path: Path) -> Callable[..., GraphEngine]:
    def make(spec: dict[str, Any], *, name: str = "g", load: bool = True, **kw: Any
             ) -> GraphEngine:
        kw.setdefault("state_store", MemoryStateStore())
        engine = GraphEngine(graph_of(spec, name), base_dir=models,
                             cache_dir=tmp_path / "cache", **kw)
        if load:
            engine.load()
        return engine
    return make


@pytest.fixture(scope="session")
def live_server(models: Path, tmp_path_factory: pytest.TempPathFactory,
                ) -> Iterator[LiveServer]:
    """A real uvicorn process serving iris (sklearn) and an echo graph side by side."""
    folder = tmp_path_factory.mktemp("live")
    for f in models.iterdir():
        if f.is_file():
            (folder / f.name).write_bytes(f.read_bytes())
    (folder / "components.py").write_text((HERE / "components.py").read_text())
    graph = {"apiVersion": "flowyard.dev/v1alpha1", "kind": "InferenceGraph",
             "metadata": {"name": "iris"},
             "spec": {"predictors": [
                 {"name": "main", "traffic": 100, "graph": {
                     "name": "classifier", "implementation": "SKLEARN_SERVER",
                     "modelUri": "lr.joblib"}},
                 {"name": "echo", "traffic": 0, "graph": {
                     "name": "identity", "className": "components.py:Identity"}}]}}
    grpc_port = free_port()
    server = start_server(graph, folder, free_port(), "--grpc-port", str(grpc_port))
    server.grpc = f"127.0.0.1:{grpc_port}"
    wait_http(f"{server.url}/v2/health/ready", ok=lambda r: r.status_code == 200)
    yield server
    stop_server(server)
