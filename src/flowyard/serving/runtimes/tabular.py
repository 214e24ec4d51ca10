"""Prepackaged model servers: scikit-learn, XGBoost, LightGBM, ONNX (onnxruntime).

The `method` parameter picks what to call, as in Seldon's SKLEARN_SERVER: `predict`
(default, what MLServer and KServe return), `predict_proba`, `decision_function` or
`transform`. XGBoost, LightGBM and onnxruntime are imported only when a node uses them.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from flowyard.errors import ConfigError, FlowyardError, InvalidInput, NotFound
from flowyard.serving.errors import ModelError
from flowyard.serving.runtimes.base import Runtime, require_extra

SKLEARN_METHODS = ("predict", "predict_proba", "decision_function", "transform")


def _find_file(path: Path, suffixes: tuple[str, ...], what: str) -> Path:
    if path.is_file():
        return path
    found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in suffixes)
    if not found:
        raise NotFound(f"no {what} file ({', '.join(suffixes)}) in model folder {str(path)!r}")
    preferred = [p for p in found if p.stem == "model"]
    return (preferred or found)[0]


def as_matrix(X: Any, node: str, inputs: list[str], n_features: int | None) -> np.ndarray:
    """One 2-d float tensor, or a 400 that names the input and the expected shape."""
    where = f"input {inputs[0]!r}" if len(inputs) == 1 else "the input"
    if isinstance(X, dict):
        raise InvalidInput(f"node {node!r} takes one input tensor, got {len(X)}: "
                           f"{', '.join(map(repr, X))}", hint="send the features as one "
                           "tensor of shape [rows, features]")
    arr = X if isinstance(X, np.ndarray) else np.asarray(X)
    if arr.ndim == 1 and n_features is not None and arr.shape[0] == n_features:
        arr = arr.reshape(1, -1)
    expected = f"[-1, {n_features}]" if n_features is not None else "[rows, features]"
    if arr.ndim != 2:
        raise InvalidInput(f"{where} has shape {list(arr.shape)}; node {node!r} expects "
                           f"shape {expected}")
    if n_features is not None and arr.shape[1] != n_features:
        raise InvalidInput(f"{where} has shape {list(arr.shape)} ({arr.shape[1]} features per "
                           f"row); node {node!r} expects shape {expected}")
    if arr.dtype.kind not in "biuf":
        raise InvalidInput(f"{where} has datatype {arr.dtype}; node {node!r} expects numbers")
    return arr


_LINEAR_CLASSIFIERS = {"LogisticRegression", "RidgeClassifier", "LinearSVC", "SGDClassifier",
                       "Perceptron", "PassiveAggressiveClassifier"}
_Fast = Callable[[np.ndarray], np.ndarray]


def linear_fast_path(model: Any, method: str) -> _Fast | None:
    """The same arithmetic as a fitted linear classifier's `method`, without scikit-learn's
    per-call input checks (~100 µs on a one-row request; the runtime checks shape, dtype and
    finiteness itself). None when the model is not one we can mirror exactly."""
    if type(model).__name__ not in _LINEAR_CLASSIFIERS:
        return None
    coef, intercept = getattr(model, "coef_", None), getattr(model, "intercept_", None)
    classes = getattr(model, "classes_", None)
    if not isinstance(coef, np.ndarray) or classes is None or coef.ndim != 2:
        return None
    W = np.ascontiguousarray(coef.T, dtype=np.float64)
    b = np.asarray(intercept, dtype=np.float64).reshape(1, -1)
    binary = W.shape[1] == 1
    if method == "decision_function":
        return (lambda X: (X @ W + b).ravel()) if binary else (lambda X: X @ W + b)
    if method == "predict":
        if binary:
            return lambda X: classes[((X @ W + b)[:, 0] > 0).astype(np.intp)]
        return lambda X: classes[np.argmax(X @ W + b, axis=1)]
    if method == "predict_proba" and type(model).__name__ == "LogisticRegression":
        if binary:
            def proba2(X: np.ndarray) -> np.ndarray:
                p = 1.0 / (1.0 + np.exp(-(X @ W + b)[:, 0]))
                return np.column_stack([1.0 - p, p])
            return proba2

        def softmax(X: np.ndarray) -> np.ndarray:
            z = X @ W + b
            z = np.exp(z - z.max(axis=1, keepdims=True))
            out: np.ndarray = z / z.sum(axis=1, keepdims=True)
            return out
        return softmax
    return None


def _verified(fast: _Fast | None, real: Callable[[np.ndarray], Any], n_features: int | None
              ) -> _Fast | None:
    """Keep the fast path only if it agrees with the estimator on probe rows."""
    if fast is None or n_features is None:
        return None
    probe = np.random.default_rng(0).normal(0.0, 3.0, size=(64, n_features))
    try:
        want, got = np.asarray(real(probe)), fast(probe)
    except Exception:
        return None
    if want.shape != got.shape:
        return None
    if want.dtype.kind in "fc":
        return fast if np.allclose(want, got, rtol=1e-7, atol=1e-10) else None
    return fast if np.array_equal(want, got) else None


class SKLearnRuntime(Runtime):
    """scikit-learn estimators saved with joblib or pickle (model.joblib, model.pkl).

    Linear classifiers get a verified fast path (parameter `fastPath: false` turns it off).
    """

    _fast: _Fast | None = None

    model: Any = None

    def load(self) -> None:
        method = str(self.params.get("method", "predict"))
        if method not in SKLEARN_METHODS:
            raise ConfigError(f"node {self.name!r}: parameter method={method!r} is not one of "
                              f"{', '.join(SKLEARN_METHODS)}")
        path = _find_file(self.model_path(), (".joblib", ".pkl", ".pickle"), "model")
        try:
            if path.suffix in (".pkl", ".pickle"):
                with path.open("rb") as fh:
                    model = pickle.load(fh)
            else:  # .joblib, or a pipeline artifact named plainly "model": joblib reads both
                model = require_extra("joblib", "sklearn", self.name).load(path)
        except Exception as exc:  # a corrupt or foreign file: any unpickling error
            raise ConfigError(f"node {self.name!r}: cannot load model {str(path)!r}: "
                              f"{type(exc).__name__}: {exc}") from exc
        if not callable(getattr(model, method, None)):
            raise ConfigError(f"node {self.name!r}: {type(model).__name__} has no {method}()",
                              hint="change the node's `method` parameter")
        self.model = model
        self.method = method
        self._call = getattr(model, method)
        self.output_name = method
        nfi = getattr(model, "n_features_in_", None)
        self.n_features: int | None = int(nfi) if nfi is not None else None
        if self.params.get("fastPath", True) is not False:
            self._fast = _verified(linear_fast_path(model, method), self._call, self.n_features)

    def predict(self, X: Any, names: list[str], meta: dict[str, Any]) -> Any:
        arr = as_matrix(X, self.name, meta.get("inputs") or ["input-0"], self.n_features)
        try:
            if self._fast is not None:
                if not np.isfinite(arr).all():
                    where = (meta.get("inputs") or ["input-0"])[0]
                    raise InvalidInput(f"input {where!r} contains NaN or infinity; node "
                                       f"{self.name!r} needs finite numbers")
                return self._fast(arr)
            return self._call(arr)
        except FlowyardError:
            raise
        except Exception as exc:
            raise ModelError(f"node {self.name!r}: {type(self.model).__name__}.{self.method}() "
                             f"raised {type(exc).__name__}: {exc}") from exc

    def output_names(self, names: list[str]) -> list[str]:
        classes = getattr(self.model, "classes_", None)
        if self.method == "predict_proba" and classes is not None:
            return [str(c) for c in classes]
        return []

    def init_metadata(self) -> dict[str, Any]:
        shape = [-1, self.n_features if self.n_features is not None else -1]
        return {"platform": "sklearn",
                "inputs": [{"name": "input-0", "datatype": "FP64", "shape": shape}],
                "outputs": [{"name": self.method, "datatype": "FP64" if self.method !=
                             "predict" else "INT64", "shape": [-1] if self.method ==
                             "predict" else [-1, -1]}]}


class XGBoostRuntime(SKLearnRuntime):
    """XGBoost boosters (.json, .ubj, .bst) through the scikit-learn wrapper."""

    def load(self) -> None:
        xgb = require_extra("xgboost", "xgboost", self.name)
        method = str(self.params.get("method", "predict"))
        path = self.model_path()
        path = _find_file(path, (".json", ".ubj", ".bst", ".model", ".joblib", ".pkl"), "model")
        if path.suffix in (".joblib", ".pkl"):
            super().load()
            return
        model = xgb.XGBClassifier() if method == "predict_proba" else xgb.XGBModel()
        try:
            model.load_model(str(path))
        except Exception as exc:
            raise ConfigError(f"node {self.name!r}: cannot load XGBoost model {str(path)!r}: "
                              f"{exc}") from exc
        self.model, self.method, self._call = model, method, getattr(model, method)
        self.output_name = method
        nfi = getattr(model, "n_features_in_", None)
        self.n_features = int(nfi) if nfi is not None else None


class LightGBMRuntime(SKLearnRuntime):
    """LightGBM boosters saved with `save_model` (.txt) or as pickled sklearn wrappers."""

    def load(self) -> None:
        lgb = require_extra("lightgbm", "lightgbm", self.name)
        path = _find_file(self.model_path(), (".txt", ".bst", ".joblib", ".pkl"), "model")
        if path.suffix in (".joblib", ".pkl"):
            super().load()
            return
        try:
            booster = lgb.Booster(model_file=str(path))
        except Exception as exc:
            raise ConfigError(f"node {self.name!r}: cannot load LightGBM model {str(path)!r}: "
                              f"{exc}") from exc
        self.model, self.method, self._call = booster, "predict", booster.predict
        self.output_name = "predict"
        self.n_features = int(booster.num_feature())


class ONNXRuntime(Runtime):
    """ONNX models through onnxruntime; a dict input maps to the graph's named inputs."""

    def load(self) -> None:
        ort = require_extra("onnxruntime", "onnx", self.name)
        path = _find_file(self.model_path(), (".onnx",), "ONNX")
        try:
            self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ConfigError(f"node {self.name!r}: cannot load ONNX model {str(path)!r}: "
                              f"{exc}") from exc
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.outputs = [o.name for o in self.session.get_outputs()]
        self.output_name = self.outputs[0]

    def predict(self, X: Any, names: list[str], meta: dict[str, Any]) -> Any:
        feeds = X if isinstance(X, dict) else {self.input_names[0]: np.asarray(X)}
        missing = [n for n in self.input_names if n not in feeds]
        if missing:
            raise InvalidInput(f"node {self.name!r} needs inputs {self.input_names}; "
                               f"missing {missing}")
        try:
            results = self.session.run(None, feeds)
        except Exception as exc:
            raise ModelError(f"node {self.name!r}: onnxruntime raised {exc}") from exc
        if len(results) == 1:
            return results[0]
        return dict(zip(self.outputs, results, strict=True))
