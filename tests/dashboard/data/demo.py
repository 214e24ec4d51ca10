"""The pipeline the dashboard tests run: a fan-out loop, metrics, a CSV, an HTML report, a
condition, and a step that waits for a marker file (so the run is seen while it is live)."""

from typing import Any

from flowyard import dsl
from flowyard.dsl import HTML, ClassificationMetrics, Dataset, Input, Metrics, Output


@dsl.component
def load(rows: int, data: Output[Dataset]) -> int:
    print(f"writing {rows} rows", flush=True)
    with open(data.path, "w", encoding="utf-8") as handle:
        handle.write("x,y,label\n")
        for i in range(rows):
            handle.write(f"{i},{(i * 7) % 11},{i % 2}\n")
    return rows


@dsl.component
def train(data: Input[Dataset], kind: str, metrics: Output[Metrics]) -> float:
    with open(data.path, encoding="utf-8") as handle:
        rows = len(handle.readlines()) - 1
    score = {"logreg": 0.81, "forest": 0.93}.get(kind, 0.5) - 1.0 / (rows + 10)
    print(f"trained {kind} on {rows} rows: accuracy {score:.3f}", flush=True)
    metrics.log_metric("accuracy", score)
    metrics.log_metric("rows", rows)
    return score


@dsl.component
def evaluate(scores: list, marker: str, report: Output[HTML],
             quality: Output[ClassificationMetrics]) -> str:
    import os
    import time

    for i in range(3):
        print(f"evaluating, pass {i}", flush=True)
    print("waiting for the marker", flush=True)
    while marker and not os.path.exists(marker):
        time.sleep(0.05)
    print("marker seen; writing the report", flush=True)
    best = "forest" if scores[1] > scores[0] else "logreg"
    quality.log_metric("f1", 0.88)
    quality.log_confusion_matrix(["cat", "dog"], [[40, 6], [4, 50]])
    quality.log_roc_curve([0.0, 0.1, 0.3, 1.0], [0.0, 0.7, 0.9, 1.0], [1.0, 0.7, 0.4, 0.0])
    with open(report.path, "w", encoding="utf-8") as handle:
        handle.write(f"<h1>Report</h1><p>The best model is <b>{best}</b>.</p>")
    return best


@dsl.component
def announce(best: str) -> None:
    print(f"the {best} model won", flush=True)


@dsl.pipeline(name="demo", description="Load, train two models, evaluate, announce.")
def demo(rows: int = 20, kinds: list = ["logreg", "forest"],  # noqa: B006 - pipeline default
         marker: str = "") -> dict[str, Any]:
    data = load(rows=rows)
    with dsl.ParallelFor(kinds) as kind:
        trained = train(data=data.outputs["data"], kind=kind)
    best = evaluate(scores=dsl.Collected(trained.outputs["Output"]), marker=marker)
    with dsl.If(best.outputs["Output"] == "forest"):
        announce(best=best.outputs["Output"])
    return {"best": best.outputs["Output"]}


@dsl.component
def fit(labels: Input[Dataset], model: Output[Dataset]) -> int:
    with open(labels.path, encoding="utf-8") as handle:
        rows = handle.read().splitlines()[1:]
    with open(model.path, "w", encoding="utf-8") as handle:
        handle.write(f"a model of {len(rows)} labels\n")
    return len(rows)


@dsl.pipeline(name="lineage", description="Read labels from a data repo, commit a model.")
def lineage() -> None:
    task = fit(labels=dsl.DataInput("images@master:/labels/train.csv"))
    task.set_output_to("model", "models@master:/model.txt")
