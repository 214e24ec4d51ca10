"""The quickstart's training pipeline: two models trained on the versioned features.

    flowyard run examples/quickstart/train.py:train_pipeline

features@master:/ -> split -> train-model (logistic regression)  -> models@master:/logreg
                           -> train-model-2 (texture only)       -> models@master:/texture

The input is the whole `features` repo at its head commit, pinned once per run; each model
is committed into the `models` repo when its step succeeds, with provenance back to the
feature commit it was trained on (and from there to the raw data commit). The two models are
deliberately unequal so that the serving router has something to learn.
"""

from __future__ import annotations

from flowyard import dsl
from flowyard.dsl import Dataset, Input, Metrics, Model, Output


@dsl.component(packages=["scikit-learn", "numpy"])
def split(features: Input[Dataset], test_size: float, seed: int,
          train: Output[Dataset], test: Output[Dataset]) -> int:
    """Concatenate the feature batches and make a stratified train/test split."""
    import glob
    import os

    import numpy as np
    from sklearn.model_selection import train_test_split

    files = sorted(glob.glob(os.path.join(features.path, "**", "*.csv"), recursive=True))
    if not files:
        raise SystemExit(f"no CSV batches under {features.path}")
    with open(files[0], encoding="utf-8") as handle:
        header = handle.readline().strip()
    table = np.vstack([np.loadtxt(f, delimiter=",", skiprows=1, ndmin=2) for f in files])
    train_rows, test_rows = train_test_split(
        table, test_size=test_size, random_state=seed, stratify=table[:, -1])
    for artifact, rows in ((train, train_rows), (test, test_rows)):
        np.savetxt(artifact.path, rows, delimiter=",", header=header, comments="", fmt="%.10g")
        artifact.metadata["rows"] = int(rows.shape[0])
    print(f"{len(files)} batches, {table.shape[0]} rows, {table.shape[1] - 1} features")
    return int(table.shape[0])


@dsl.component(packages=["scikit-learn", "numpy", "joblib"])
def train_model(kind: str, train: Input[Dataset], test: Input[Dataset], seed: int,
                model: Output[Model], metrics: Output[Metrics]) -> float:
    """Fit "logreg" (every feature) or "texture" (a baseline that sees only the texture
    columns, as a first screening rule might); both take the full feature row."""
    import joblib
    import numpy as np
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score, recall_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train_rows = np.loadtxt(train.path, delimiter=",", skiprows=1)
    test_rows = np.loadtxt(test.path, delimiter=",", skiprows=1)
    x_train, y_train = train_rows[:, :-1], train_rows[:, -1]
    x_test, y_test = test_rows[:, :-1], test_rows[:, -1]
    if kind == "logreg":
        estimator = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    elif kind == "texture":
        with open(train.path, encoding="utf-8") as handle:
            columns = handle.readline().strip().split(",")[:-1]
        texture = [i for i, name in enumerate(columns) if "texture" in name]
        estimator = make_pipeline(ColumnTransformer([("texture", StandardScaler(), texture)]),
                                  LogisticRegression(max_iter=2000))
    else:
        raise ValueError(f"unknown model kind {kind!r}; use 'logreg' or 'texture'")
    estimator.fit(x_train, y_train)
    predicted = estimator.predict(x_test)
    accuracy = float(accuracy_score(y_test, predicted))
    metrics.log_metric("accuracy", accuracy)
    metrics.log_metric("f1", float(f1_score(y_test, predicted)))
    metrics.log_metric("recall", float(recall_score(y_test, predicted)))
    joblib.dump(estimator, model.path)
    model.metadata.update({"framework": "sklearn", "kind": kind, "accuracy": accuracy})
    print(f"{kind}: accuracy {accuracy:.4f} on {len(y_test)} test rows")
    return accuracy


@dsl.pipeline(name="train-cancer",
              description="Two classifiers on the versioned features, committed to 'models'.")
def train_pipeline(test_size: float = 0.25, seed: int = 0) -> None:
    data = split(features=dsl.DataInput("features@master:/"), test_size=test_size, seed=seed)
    for kind in ("logreg", "texture"):
        task = train_model(kind=kind, train=data.outputs["train"], test=data.outputs["test"],
                           seed=seed)
        task.set_output_to("model", f"models@master:/{kind}")
