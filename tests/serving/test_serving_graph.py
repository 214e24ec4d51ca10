"""The graph engine in-process: chains, routers, bandits with feedback, canary, shadow."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from components import Recorder, Stateful
from serving_helpers import IRIS_ROW, py_node, single

from flowyard.errors import InvalidInput, NotFound
from flowyard.serving import Feedback, GraphEngine, JsonFileStateStore, Payload
from flowyard.serving.errors import ModelError, ModelNotReady

Make = Callable[..., GraphEngine]
SK = {"name": "clf", "implementation": "SKLEARN_SERVER", "modelUri": "lr.joblib"}


def run(engine: GraphEngine, X: Any, **kw: Any) -> Any:
    async def go() -> Any:
        pred = await engine.predict(Payload(X), **kw)
        await engine.idle()
        return pred
    return asyncio.run(go())


def param(name: str, value: Any, kind: str = "FLOAT") -> dict[str, Any]:
    return {"name": name, "value": value, "type": kind}


def test_transformer_model_output_transformer_chain(make_engine: Make) -> None:
    engine = make_engine(single(py_node("plus", "AddOne", "OUTPUT_TRANSFORMER", children=[
        py_node("scale", "Scale", "TRANSFORMER", parameters=[param("factor", "3")],
                children=[py_node("sum", "Sum")])])))
    pred = run(engine, np.array([[1.0, 2.0]]))
    assert pred.data.tolist() == [[10.0]]  # (1+2)*3 + 1
    assert list(pred.request_path) == ["plus", "scale", "sum"]
    assert pred.names == ["total"] and pred.predictor == "main" and len(pred.puid) == 32


def test_sklearn_predict_and_proba(make_engine: Make) -> None:
    engine = make_engine(single({**SK, "parameters": [{"name": "method",
                                                       "value": "predict_proba"}]}))
    pred = run(engine, np.array([IRIS_ROW]))
    assert pred.data.shape == (1, 3) and pred.data.argmax() == 0
    assert pred.names == ["0", "1", "2"] and pred.output_name == "predict_proba"
    assert run(make_engine(single(SK)), np.array([IRIS_ROW])).data.tolist() == [0]


def test_random_abtest_splits_by_ratio(make_engine: Make) -> None:
    engine = make_engine(single({"name": "ab", "implementation": "RANDOM_ABTEST",
                                 "parameters": [param("ratioA", "0.8"), param("seed", 1, "INT")],
                                 "children": [py_node("a", "Constant", parameters=[
                                     param("value", 0)]), py_node("b", "Constant", parameters=[
                                         param("value", 1)])]}))
    picks = Counter(run(engine, np.zeros((1, 2))).routing["ab"] for _ in range(400))
    assert 280 < picks[0] < 360, picks


def bandit(make_engine: Make, impl: str, store: Any = None) -> GraphEngine:
    params = [param("seed", 7, "INT")] + ([param("epsilon", "0.1")] if impl ==
                                         "EPSILON_GREEDY" else [])
    kw = {"state_store": store} if store is not None else {}
    return make_engine(single({"name": "bandit", "implementation": impl, "parameters": params,
                               "children": [py_node("arm0", "Constant", parameters=[
                                   param("value", 0)]), py_node("arm1", "Constant", parameters=[
                                       param("value", 1)])]}), **kw)


def feed(engine: GraphEngine, rounds: int, good_arm: int) -> Counter[int]:
    """Reward 1 when the good arm served the batch, else 0; count where traffic went."""
    seen: Counter[int] = Counter()
    for _ in range(rounds):
        X = np.zeros((4, 2))
        pred = run(engine, X)
        arm = pred.routing["bandit"]
        seen[arm] += 1
        engine.feedback(Feedback(Payload(X), reward=1.0 if arm == good_arm else 0.0,
                                 routing=pred.routing, predictor=pred.predictor))
    return seen


@pytest.mark.parametrize("impl", ["EPSILON_GREEDY", "THOMPSON_SAMPLING"])
def test_bandits_shift_traffic_to_the_rewarded_arm(make_engine: Make, impl: str) -> None:
    engine = bandit(make_engine, impl)
    feed(engine, 60, good_arm=1)
    late = feed(engine, 200, good_arm=1)
    assert late[1] > 0.85 * 200, late
    if impl == "EPSILON_GREEDY":
        assert late[0] > 0, "still explores"


def test_router_state_survives_a_restart(make_engine: Make, tmp_path: Path) -> None:
    store = JsonFileStateStore(tmp_path / "state")
    engine = bandit(make_engine, "EPSILON_GREEDY", store)
    feed(engine, 40, good_arm=1)
    saved = (tmp_path / "state" / "g.state.json").read_text()
    assert '"main/bandit"' in saved
    restarted = bandit(make_engine, "EPSILON_GREEDY", JsonFileStateStore(tmp_path / "state"))
    assert restarted.predictors["main"].nodes["bandit"].runtime.get_state() == \
        engine.predictors["main"].nodes["bandit"].runtime.get_state()
    assert Counter(run(restarted, np.zeros((1, 2))).routing["bandit"]
                   for _ in range(50))[1] > 35


def test_feedback_by_puid_reaches_the_routed_branch(make_engine: Make) -> None:
    Stateful.rewards.clear()
    engine = make_engine(single({"name": "r", "type": "ROUTER",
                                 "className": py_node("x", "FirstRouter")["className"],
                                 "children": [py_node("s", "Stateful"), py_node("t", "Boom")]}))
    pred = run(engine, np.ones((1, 2)))
    engine.feedback(Feedback(Payload(np.ones((1, 2))), reward=0.5, puid=pred.puid))
    assert Stateful.rewards == [0.5]
    with pytest.raises(InvalidInput, match="no entry for router 'r'"):
        engine.feedback(Feedback(Payload(np.ones((1, 2))), reward=1, routing={}))
    with pytest.raises(InvalidInput, match="sends router 'r' to child 9; it has 2"):
        engine.feedback(Feedback(Payload(np.ones((1, 2))), reward=1, routing={"r": 9}))


def test_canary_weights_and_header_routing(make_engine: Make) -> None:
    engine = make_engine({"predictors": [
        {"name": "stable", "traffic": 75, "graph": py_node("a", "Constant")},
        {"name": "canary", "traffic": 25, "graph": py_node("b", "Constant", parameters=[
            param("value", 1)])}]}, seed=3)
    counts = Counter(run(engine, np.zeros((1, 1))).predictor for _ in range(400))
    assert 60 < counts["canary"] < 140, counts
    assert {run(engine, np.zeros((1, 1)), predictor="canary").predictor for _ in range(20)} \
        == {"canary"}
    with pytest.raises(NotFound, match=r"predictor 'nope' .* does not exist"):
        run(engine, np.zeros((1, 1)), predictor="nope")


def test_shadow_never_affects_the_response(make_engine: Make) -> None:
    Recorder.seen.clear()
    engine = make_engine({"predictors": [
        {"name": "main", "graph": py_node("id", "Identity")},
        {"name": "mirror", "shadow": True, "graph": py_node("rec", "Recorder")},
        {"name": "broken", "shadow": True, "graph": py_node("boom", "Boom")}]})
    X = np.array([[1.0, 2.0]])
    pred = run(engine, X)
    assert pred.data.tolist() == [[1.0, 2.0]] and pred.predictor == "main"
    assert Recorder.seen == [[[1.0, 2.0]]]  # the shadow got a copy
    text = engine.metrics.registry.get_sample_value(
        "flowyard_predictor_requests_total",
        {"graph": "g", "predictor": "broken", "shadow": "True", "outcome": "error"})
    assert text == 1.0


def test_combiner_averages_children(make_engine: Make) -> None:
    engine = make_engine(single({"name": "avg", "implementation": "AVERAGE_COMBINER",
                                 "children": [py_node("a", "Constant", parameters=[
                                     param("value", 1)]), py_node("b", "Constant", parameters=[
                                         param("value", 3)])]}))
    pred = run(engine, np.zeros((2, 1)))
    assert pred.data.tolist() == [[2.0], [2.0]] and pred.routing == {"avg": -1}
    assert pred.tags == {"arm": 3.0}
    assert len(pred.metrics) == 6


def test_invalid_router_index_and_raising_model_are_errors(make_engine: Make) -> None:
    engine = make_engine(single({"name": "r", "type": "ROUTER",
                                 "className": py_node("x", "BadRouter")["className"],
                                 "children": [py_node("a", "Identity"),
                                              py_node("b", "Identity")]}))
    with pytest.raises(ModelError, match=r"router 'r' returned child index 5; it has 2 "
                                         r"children \(0..1\)"):
        run(engine, np.zeros((1, 1)))
    boom = make_engine(single(py_node("boom", "Boom")))
    with pytest.raises(ModelError, match="node 'boom': predict\\(\\) raised RuntimeError: the "
                                         "model blew up on purpose"):
        run(boom, np.zeros((1, 1)))
    assert boom.metrics.registry.get_sample_value(
        "flowyard_node_requests_total",
        {"graph": "g", "predictor": "main", "node": "boom", "outcome": "error"}) == 1.0


def test_failed_load_marks_only_that_predictor_not_ready(make_engine: Make) -> None:
    engine = make_engine({"predictors": [
        {"name": "good", "traffic": 50, "graph": SK},
        {"name": "bad", "traffic": 50, "graph": py_node("broken", "FailsToLoad")}]})
    assert engine.not_ready(engine.target("good")) is None
    reason = engine.not_ready()
    assert reason and "node 'broken' is failed: OSError: weights file is corrupt" in reason
    assert run(engine, np.array([IRIS_ROW]), target="good").data.tolist() == [0]
    with pytest.raises(ModelNotReady, match="predictor 'bad' is not ready: node 'broken'"):
        run(engine, np.zeros((1, 4)), predictor="bad")


def test_adaptive_batching_merges_concurrent_requests(make_engine: Make) -> None:
    Recorder.seen.clear()
    engine = make_engine(single(py_node("rec", "Recorder", batching={
        "maxBatchSize": 8, "maxLatencyMs": 5})))

    async def burst() -> list[Any]:
        return list(await asyncio.gather(*(engine.predict(Payload(np.full((1, 2), i)))
                                           for i in range(5))))
    preds = asyncio.run(burst())
    assert [p.data.tolist() for p in preds] == [[[i * 100, i * 100]] for i in range(5)]
    assert len(Recorder.seen) == 1 and len(Recorder.seen[0]) == 5
