"""A tiny training pipeline whose model the serving tests serve by `run:` URI."""

from __future__ import annotations

from typing import Any

from flowyard import dsl
from flowyard.dsl import Model, Output


@dsl.component(packages=["scikit-learn", "joblib"])
def fit(max_iter: int, model: Output[Model]) -> float:
    """Fit a logistic regression on iris and save it with joblib."""
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True)
    estimator = LogisticRegression(max_iter=max_iter, random_state=0).fit(X, y)
    joblib.dump(estimator, model.path)
    model.metadata.update({"framework": "sklearn"})
    return float(estimator.score(X, y))


@dsl.component(packages=["joblib"])
def copy_model(source: dsl.Input[Model], model: Output[Model]) -> None:
    """A second step that also writes an artifact called "model"."""
    import shutil

    shutil.copyfile(source.path, model.path)


@dsl.pipeline(name="iris-train")
def iris_train(max_iter: int = 500) -> Any:
    trained = fit(max_iter=max_iter)
    best = copy_model(source=trained.outputs["model"])
    return {"model": best.outputs["model"]}
