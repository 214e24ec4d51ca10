"""Runtimes and model sources: sklearn files, user classes, optional extras, S3 via moto."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from serving_helpers import IRIS_ROW, py_node, single

from flowyard.errors import ConfigError, NotFound
from flowyard.serving import GraphEngine, Payload
from flowyard.serving.runtimes.python_class import load_class
from flowyard.serving.sources import SourceContext, kind_of, resolve
from s3_helpers import fresh_bucket, use_dummy_credentials

Make = Callable[..., GraphEngine]


def predict(engine: GraphEngine, X: Any) -> Any:
    return asyncio.run(engine.predict(Payload(X))).data


def failure(engine: GraphEngine) -> str:
    reason = engine.not_ready()
    assert reason is not None
    return reason


@pytest.mark.parametrize("uri", ["lr.joblib", "tree.pkl", "dir", "file://{models}/lr.joblib"])
def test_sklearn_model_files(make_engine: Make, models: Path, uri: str) -> None:
    engine = make_engine(single({"name": "m", "implementation": "SKLEARN_SERVER",
                                 "modelUri": uri.format(models=models)}))
    assert predict(engine, np.array([IRIS_ROW])).tolist() == [0]


def test_sklearn_load_failures_name_the_node_and_file(make_engine: Make) -> None:
    def reason(uri: str, **extra: Any) -> str:
        return failure(make_engine(single({"name": "m", "implementation": "SKLEARN_SERVER",
                                           "modelUri": uri, **extra})))
    assert "NotFound: model file" in reason("nope.joblib")
    assert "nope.joblib' does not exist" in reason("nope.joblib")
    assert "node 'm': cannot load model" in reason("broken.joblib")
    text = reason("lr.joblib", parameters=[{"name": "method", "value": "score"}])
    assert "parameter method='score' is not one of predict, predict_proba" in text
    text = reason("lr.joblib", parameters=[{"name": "method", "value": "transform"}])
    assert "LogisticRegression has no transform()" in text


@pytest.mark.parametrize(("impl", "extra"), [("XGBOOST_SERVER", "xgboost"),
                                             ("LIGHTGBM_SERVER", "lightgbm"),
                                             ("ONNX_SERVER", "onnx")])
def test_missing_optional_backend_names_the_extra(make_engine: Make, impl: str, extra: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    module = {"onnx": "onnxruntime"}.get(extra, extra)
    monkeypatch.setitem(sys.modules, module, None)  # `import module` now fails, installed or not
    text = failure(make_engine(single({"name": "m", "implementation": impl,
                                       "modelUri": "lr.joblib"})))
    assert f"node 'm' needs the Python package '{module}'" in text
    assert f"pip install 'flowyard[{extra}]'" in text


def test_user_class_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))  # load_class adds the graph folder
    for name in ("mymodel", "Seldonish"):  # imported by name below; forget them after
        monkeypatch.delitem(sys.modules, name, raising=False)
        monkeypatch.setitem(sys.modules, name, None)
        monkeypatch.delitem(sys.modules, name)
    (tmp_path / "mymodel.py").write_text(
        "class MyModel:\n    def predict(self, X, names):\n        return X\n"
        "class Other:\n    pass\n")
    assert load_class("mymodel:MyModel", tmp_path).__name__ == "MyModel"
    assert load_class("mymodel.py:Other", tmp_path).__name__ == "Other"
    (tmp_path / "Seldonish.py").write_text("class Seldonish:\n    pass\n")
    assert load_class("Seldonish", tmp_path).__name__ == "Seldonish"
    with pytest.raises(NotFound, match=r"module 'mymodel' has no class 'Nope'") as info:
        load_class("mymodel:Nope", tmp_path)
    assert "classes defined there: MyModel, Other" in str(info.value)
    with pytest.raises(NotFound, match=r"file '.*missing.py' does not exist"):
        load_class("missing.py:X", tmp_path)
    with pytest.raises(NotFound, match="cannot import module 'no_such_module'"):
        load_class("no_such_module:X", tmp_path)
    (tmp_path / "broken.py").write_text("raise ValueError('bad import')\n")
    with pytest.raises(ConfigError, match=r"importing .*broken.py' failed: ValueError: bad "
                                          r"import"):
        load_class("broken.py:X", tmp_path)


def test_user_class_gets_parameters_and_model_uri(make_engine: Make, models: Path) -> None:
    engine = make_engine(single(py_node("u", "WithUri", modelUri="lr.joblib", parameters=[
        {"name": "threshold", "value": "7", "type": "INT"}])))
    out = predict(engine, np.zeros((1, 1)))
    assert out.tolist() == [[len(str(models / "lr.joblib")), 7]]
    bad = make_engine(single(py_node("u", "Scale", parameters=[{"name": "nope",
                                                                  "value": "1"}])))
    assert "Scale(**parameters) failed" in failure(bad)


def test_unsupported_sources_are_a_clear_error(tmp_path: Path) -> None:
    # run: and repo@ref:/path sources are tested against real stores in
    # test_serving_run_source.py and test_serving_data_source.py
    ctx = SourceContext(tmp_path, tmp_path / "cache")
    assert kind_of("run:abc123/model") == "run"
    assert kind_of("iris-data@main:/models/lr.joblib") == "repo"
    assert kind_of("s3://bucket/key") == "fsspec" and kind_of("./x") == "local"
    with pytest.raises(ConfigError, match=r"is not a valid repo@ref:/path"):
        resolve("repo@v1^x:/m.joblib", ctx)  # refused before any store is opened


@pytest.fixture
def s3(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A boto3 client on the session's emptied moto server, with a `models` bucket."""
    use_dummy_credentials(monkeypatch)
    monkeypatch.setenv("FLOWYARD_S3_ENDPOINT_URL", s3_endpoint)
    return fresh_bucket(s3_endpoint, "models")


def test_model_from_s3_is_downloaded_once(s3: Any, make_engine: Make, models: Path,
                                          tmp_path: Path) -> None:
    s3.put_object(Bucket="models", Key="iris/v1/model.joblib",
                  Body=(models / "lr.joblib").read_bytes())
    for uri in ("s3://models/iris/v1/model.joblib", "s3://models/iris/v1"):
        engine = make_engine(single({"name": "m", "implementation": "SKLEARN_SERVER",
                                     "modelUri": uri}))
        assert predict(engine, np.array([IRIS_ROW])).tolist() == [0]
    cached = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert len(cached) == 2 and not any(n.startswith(".") for n in cached)
    s3.delete_object(Bucket="models", Key="iris/v1/model.joblib")
    again = make_engine(single({"name": "m", "implementation": "SKLEARN_SERVER",
                                "modelUri": "s3://models/iris/v1/model.joblib"}))
    assert again.not_ready() is None  # served from the cache
    missing = make_engine(single({"name": "m", "implementation": "SKLEARN_SERVER",
                                  "modelUri": "s3://models/nothing.joblib"}))
    assert "model 's3://models/nothing.joblib' does not exist in its store" in failure(missing)


def test_lightgbm_booster_file(make_engine: Make, models: Path,
                               iris: tuple[np.ndarray, np.ndarray]) -> None:
    lgb = pytest.importorskip("lightgbm")
    X, y = iris
    booster = lgb.train({"objective": "multiclass", "num_class": 3, "verbose": -1,
                         "num_leaves": 4}, lgb.Dataset(X, y), num_boost_round=5)
    booster.save_model(str(models / "iris-lgb.txt"))
    engine = make_engine(single({"name": "m", "implementation": "LIGHTGBM_SERVER",
                                 "modelUri": "iris-lgb.txt"}))
    out = predict(engine, np.array([IRIS_ROW]))
    assert out.shape == (1, 3) and int(out.argmax()) == 0
    with pytest.raises(Exception, match=r"expects shape \[-1, 4\]"):
        predict(engine, np.zeros((1, 2)))


def test_onnx_model_file(make_engine: Make, models: Path,
                         iris: tuple[np.ndarray, np.ndarray]) -> None:
    pytest.importorskip("onnxruntime")
    skl2onnx = pytest.importorskip("skl2onnx")
    from skl2onnx.common.data_types import FloatTensorType  # type: ignore[import-untyped]
    from sklearn.linear_model import LogisticRegression

    X, y = iris
    clf = LogisticRegression(max_iter=500).fit(X, y)
    onx = skl2onnx.convert_sklearn(clf, initial_types=[("x", FloatTensorType([None, 4]))],
                                   options={id(clf): {"zipmap": False}})
    (models / "iris.onnx").write_bytes(onx.SerializeToString())
    engine = make_engine(single({"name": "m", "implementation": "ONNX_SERVER",
                                 "modelUri": "iris.onnx"}))
    out = predict(engine, np.array([IRIS_ROW], dtype=np.float32))
    assert isinstance(out, dict) and out["label"].tolist() == [0]
    assert out["probabilities"].shape == (1, 3)


@pytest.mark.parametrize("method", ["predict", "predict_proba", "decision_function"])
@pytest.mark.parametrize("binary", [False, True])
def test_linear_fast_path_matches_sklearn(make_engine: Make, models: Path, method: str,
                                          binary: bool, iris: tuple[np.ndarray, np.ndarray]
                                          ) -> None:
    import joblib
    from sklearn.linear_model import LogisticRegression

    X, y = iris
    if binary:
        y = (y == 2).astype(int)
    joblib.dump(LogisticRegression(max_iter=500).fit(X, y), models / f"lr-{binary}.joblib")
    node = {"name": "m", "implementation": "SKLEARN_SERVER", "modelUri": f"lr-{binary}.joblib",
            "parameters": [{"name": "method", "value": method}]}
    fast = make_engine(single(node))
    slow = make_engine(single({**node, "parameters": [
        *node["parameters"], {"name": "fastPath", "value": "false", "type": "BOOL"}]}))
    assert fast.predictors["main"].root.runtime._fast is not None  # type: ignore[attr-defined]
    assert slow.predictors["main"].root.runtime._fast is None  # type: ignore[attr-defined]
    np.testing.assert_allclose(predict(fast, X), predict(slow, X), rtol=1e-7, atol=1e-10)


def test_fast_path_rejects_nan_and_skips_other_models(make_engine: Make) -> None:
    from flowyard.errors import InvalidInput

    engine = make_engine(single({"name": "m", "implementation": "SKLEARN_SERVER",
                                 "modelUri": "lr.joblib"}))
    with pytest.raises(InvalidInput, match="input 'input-0' contains NaN or infinity; node 'm'"):
        predict(engine, np.array([[np.nan, 1.0, 2.0, 3.0]]))
    tree = make_engine(single({"name": "t", "implementation": "SKLEARN_SERVER",
                               "modelUri": "tree.pkl"}))
    assert tree.predictors["main"].root.runtime._fast is None  # type: ignore[attr-defined]
    assert predict(tree, np.array([IRIS_ROW])).tolist() == [0]
