"""Train two scikit-learn classifiers side by side and keep the better one.

    flowyard run examples/pipelines/train.py:train_pipeline -p test_size=0.3

load-data -> split-data -> train-model (logistic regression)  \\
                        -> train-model-2 (random forest)        -> pick-best

The data set is the breast-cancer set that ships with scikit-learn (no download). The two
training steps do not depend on each other, so the engine runs them at the same time. Each
component imports what it needs inside its body: the body is what travels with the pipeline
and runs in the step's own process.
"""

from __future__ import annotations

from flowyard import dsl
from flowyard.dsl import Dataset, Input, Metrics, Model, Output


@dsl.component(packages=["scikit-learn", "numpy"])
def load_data(data: Output[Dataset]) -> int:
    """Write the data set as CSV (30 feature columns, then `target`); return the row count."""
    import numpy as np
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer()
    names = [str(n).replace(" ", "_") for n in bunch.feature_names]
    table = np.column_stack([bunch.data, bunch.target])
    np.savetxt(data.path, table, delimiter=",", header=",".join([*names, "target"]),
               comments="", fmt="%.10g")
    data.metadata.update({"rows": int(table.shape[0]), "features": len(names)})
    return int(table.shape[0])


@dsl.component(packages=["scikit-learn", "numpy"])
def split_data(data: Input[Dataset], test_size: float, seed: int,
               train: Output[Dataset], test: Output[Dataset]) -> None:
    """Stratified train/test split of the CSV."""
    import numpy as np
    from sklearn.model_selection import train_test_split

    with open(data.path, encoding="utf-8") as handle:
        header = handle.readline().strip()
    table = np.loadtxt(data.path, delimiter=",", skiprows=1)
    train_rows, test_rows = train_test_split(
        table, test_size=test_size, random_state=seed, stratify=table[:, -1])
    for artifact, rows in ((train, train_rows), (test, test_rows)):
        np.savetxt(artifact.path, rows, delimiter=",", header=header, comments="", fmt="%.10g")
        artifact.metadata["rows"] = int(rows.shape[0])


@dsl.component(packages=["scikit-learn", "numpy", "joblib"])
def train_model(kind: str, train: Input[Dataset], test: Input[Dataset], seed: int,
                model: Output[Model], metrics: Output[Metrics]) -> float:
    """Fit one classifier ("logreg" or "forest"), save it with joblib, score it on test."""
    import joblib
    import numpy as np
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train_rows = np.loadtxt(train.path, delimiter=",", skiprows=1)
    test_rows = np.loadtxt(test.path, delimiter=",", skiprows=1)
    x_train, y_train = train_rows[:, :-1], train_rows[:, -1]
    x_test, y_test = test_rows[:, :-1], test_rows[:, -1]
    if kind == "logreg":
        estimator = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    elif kind == "forest":
        estimator = RandomForestClassifier(n_estimators=200, random_state=seed, n_jobs=1)
    else:
        raise ValueError(f"unknown model kind {kind!r}; use 'logreg' or 'forest'")
    estimator.fit(x_train, y_train)
    predicted = estimator.predict(x_test)
    accuracy = float(accuracy_score(y_test, predicted))
    metrics.log_metric("accuracy", accuracy)
    metrics.log_metric("f1", float(f1_score(y_test, predicted)))
    metrics.log_metric("roc_auc", float(roc_auc_score(y_test,
                                                      estimator.predict_proba(x_test)[:, 1])))
    joblib.dump(estimator, model.path)
    model.metadata.update({"framework": "sklearn", "kind": kind, "accuracy": accuracy})
    print(f"{kind}: accuracy {accuracy:.4f} on {len(y_test)} test rows")
    return accuracy


@dsl.component(packages=["joblib"])
def pick_best(first: Input[Model], first_metrics: Input[Metrics],
              second: Input[Model], second_metrics: Input[Metrics],
              model: Output[Model], metrics: Output[Metrics]) -> str:
    """Copy the model with the higher accuracy (the first on a tie) and its metrics."""
    import json
    import shutil

    def accuracy(path: str) -> float:
        with open(path, encoding="utf-8") as handle:
            return float(json.load(handle)["accuracy"])

    candidates = [(first, first_metrics), (second, second_metrics)]
    best, best_metrics = max(candidates, key=lambda pair: accuracy(pair[1].path))
    shutil.copyfile(best.path, model.path)
    with open(best_metrics.path, encoding="utf-8") as handle:
        for name, value in json.load(handle).items():
            metrics.log_metric(name, value)
    kind = str(best.metadata.get("kind", "unknown"))
    model.metadata.update({"framework": "sklearn", "kind": kind})
    print(f"best model: {kind} (accuracy {accuracy(best_metrics.path):.4f})")
    return kind


@dsl.pipeline(name="train-breast-cancer",
              description="Train logistic regression and a random forest; keep the better one.")
def train_pipeline(test_size: float = 0.25, seed: int = 0):
    data = load_data()
    split = split_data(data=data.outputs["data"], test_size=test_size, seed=seed)
    logreg = train_model(kind="logreg", train=split.outputs["train"],
                         test=split.outputs["test"], seed=seed)
    forest = train_model(kind="forest", train=split.outputs["train"],
                         test=split.outputs["test"], seed=seed)
    best = pick_best(first=logreg.outputs["model"], first_metrics=logreg.outputs["metrics"],
                     second=forest.outputs["model"], second_metrics=forest.outputs["metrics"])
    return {"model": best.outputs["model"], "metrics": best.outputs["metrics"],
            "kind": best.outputs["Output"]}
