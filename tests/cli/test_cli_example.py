"""The example the README promises: it runs, it picks a model, and that model predicts."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "pipelines"
TARGET = f"{EXAMPLES / 'train.py'}:train_pipeline"

Cli = Callable[..., Any]


def test_compiled_yaml_is_in_sync_with_the_python_example() -> None:
    from flowyard.client import Client

    expected = Client.compile(TARGET)
    assert (EXAMPLES / "train.yaml").read_text(encoding="utf-8") == expected, (
        "examples/pipelines/train.yaml is stale; regenerate it with "
        "`flowyard compile examples/pipelines/train.py:train_pipeline "
        "-o examples/pipelines/train.yaml`"
    )


def test_train_example_end_to_end(cli: Cli, tmp_path: Path) -> None:
    import joblib
    from sklearn.datasets import load_breast_cancer

    from flowyard.client import Client

    result = cli("run", TARGET, "-p", "test_size=0.3", "-o", "json")
    assert result.code == 0, result.err
    body = json.loads(result.out)
    assert body["state"] == "Succeeded"
    assert [s["state"] for s in body["steps"]] == ["Succeeded"] * 5

    by_step = {a["stepId"] + "/" + a["name"]: a for a in body["artifacts"]}
    for step in ("train-model", "train-model-2", "pick-best"):
        metrics = by_step[f"{step}/metrics"]["metadata"]
        assert 0.8 < metrics["accuracy"] <= 1.0
        assert {"f1", "roc_auc"} <= set(metrics)
    trained = {by_step[f"{s}/model"]["metadata"]["kind"]: by_step[f"{s}/metrics"]["metadata"]
               for s in ("train-model", "train-model-2")}
    chosen = body["outputs"]["kind"]
    assert trained[chosen]["accuracy"] == max(m["accuracy"] for m in trained.values())

    shown = cli("runs", "get", body["id"])
    assert shown.code == 0 and "Metrics" in shown.out and "accuracy" in shown.out

    model_id = body["outputs"]["model"]
    with Client() as client:
        path = client.download_artifact(model_id, tmp_path / "model.joblib")
    model = joblib.load(path)
    features, labels = load_breast_cancer(return_X_y=True)
    assert (model.predict(features) == labels).mean() > 0.9

    yaml_run = cli("run", str(EXAMPLES / "train.yaml"), "-p", "test_size=0.3", "-o", "json")
    assert yaml_run.code == 0
    assert {s["state"] for s in json.loads(yaml_run.out)["steps"]} == {"Cached"}
