"""The example in examples/serving trains, validates and serves as documented."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from flowyard.serving import Feedback, GraphEngine, MemoryStateStore, Payload, load_graph

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "serving"


def test_example_graph_serves_and_learns(tmp_path: Path) -> None:
    for name in ("train_iris.py", "steps.py", "iris-graph.yaml"):
        shutil.copy(EXAMPLE / name, tmp_path / name)
    subprocess.run([sys.executable, str(tmp_path / "train_iris.py"), str(tmp_path)], check=True,
                   capture_output=True, timeout=120)
    graph = load_graph(tmp_path / "iris-graph.yaml")
    engine = GraphEngine(graph, base_dir=tmp_path, cache_dir=tmp_path / "cache",
                         state_store=MemoryStateStore(), seed=0)
    engine.load()
    assert engine.not_ready() is None

    async def go() -> None:
        X = np.array([[5.1, 3.5, 1.4, 0.2], [6.2, 3.4, 5.4, 2.3]])
        pred = await engine.predict(Payload(X), predictor="main")
        assert pred.data.tolist() == ["setosa", "virginica"]
        arm = ["lr", "tree"][pred.routing["bandit"]]
        assert list(pred.request_path) == ["label", "clip", "bandit", arm]
        engine.feedback(Feedback(Payload(X), reward=1.0, routing=pred.routing,
                                 predictor="main"))
        await engine.idle()
    asyncio.run(go())
