"""A pipeline that reads a data repo and writes its model into another: lineage end to end.

    python examples/data/lineage.py        # uses a throwaway FLOWYARD_HOME

raw@master:/iris.csv  ->  run (step train)  ->  models@master:/iris
Then: which runs read the raw commit, and which commits and run the model came from.
"""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

from flowyard import dsl
from flowyard.data import DataStore
from flowyard.data.lineage import runs_reading
from flowyard.dsl import Dataset, Input, Model, Output
from flowyard.pipelines.engine import Engine
from flowyard.settings import Settings


@dsl.component
def train(data: Input[Dataset], model: Output[Model]) -> float:
    """A nearest-centroid classifier in plain Python: one centroid per species."""
    import csv
    import json
    import os

    with open(data.path) as handle:
        rows = list(csv.DictReader(handle))
    features = [k for k in rows[0] if k != "species"]
    sums: dict[str, list[float]] = {}
    counts: dict[str, int] = {}
    for row in rows:
        acc = sums.setdefault(row["species"], [0.0] * len(features))
        for i, k in enumerate(features):
            acc[i] += float(row[k])
        counts[row["species"]] = counts.get(row["species"], 0) + 1
    centroids = {s: [v / counts[s] for v in acc] for s, acc in sums.items()}

    def predict(row: dict[str, str]) -> str:
        x = [float(row[k]) for k in features]
        return min(centroids, key=lambda s: sum((a - b) ** 2 for a, b in
                                                 zip(x, centroids[s], strict=True)))

    accuracy = sum(predict(r) == r["species"] for r in rows) / len(rows)
    os.makedirs(model.path, exist_ok=True)
    with open(os.path.join(model.path, "centroids.json"), "w") as handle:
        json.dump({"features": features, "centroids": centroids}, handle, indent=1)
    return accuracy


@dsl.pipeline(name="iris-from-repo")
def iris_pipeline() -> None:
    task = train(data=dsl.DataInput("raw@master:/iris.csv"))
    task.set_output_to("model", "models@master:/iris")


def iris_csv() -> bytes:
    """A small iris-like table (generated, so the example needs no download)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["sepal_length", "petal_length", "species"])
    for i in range(20):
        writer.writerow([5.0 + i % 5 * 0.1, 1.4 + i % 3 * 0.1, "setosa"])
        writer.writerow([6.0 + i % 5 * 0.1, 4.5 + i % 3 * 0.1, "versicolor"])
        writer.writerow([6.6 + i % 5 * 0.1, 5.6 + i % 3 * 0.1, "virginica"])
    return out.getvalue().encode()


def main() -> None:
    settings = Settings(home=Path(tempfile.mkdtemp(prefix="flowyard-lineage-")))
    with DataStore.from_settings(settings) as ds, Engine(ds.meta, ds.objects, settings) as eng:
        ds.create_repo("raw")
        ds.create_repo("models")
        ds.put_bytes("raw@master:/iris.csv", iris_csv(), message="iris v1")

        run = eng.run(dsl.compile(iris_pipeline))
        print(f"run {run.id}: {run.state}")

        raw = ds.resolve("raw@master")
        model = ds.resolve("models@master")
        print(f"model commit models@{model.id} written by {model.info}")
        print("  computed from:", [f"{c.repo}@{c.id}" for c in ds.provenance("models@master")])
        print(f"raw commit raw@{raw.id} was read by:")
        for read in runs_reading(ds, [("raw", raw.id)]):
            print(f"  run {read.run} step {read.step} (input {read.input!r})")
        print("  and led to:", [f"{c.repo}@{c.id}" for c in ds.subvenance(f"raw@{raw.id}")])
        print("model:", ds.read_bytes("models@master:/iris/centroids.json").decode()[:80], "...")
        print(f"\ntry: FLOWYARD_HOME={settings.home} flowyard data inspect raw@{raw.id} "
              "--subvenance")


if __name__ == "__main__":
    main()
