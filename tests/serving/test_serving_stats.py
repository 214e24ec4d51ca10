"""`/stats` of a serving process: requests, rate, latency percentiles, traffic and arms."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from serving_helpers import AsgiClient, py_node

from flowyard.serving import GraphEngine, build_app
from flowyard.serving.stats import quantile


def arms(prefix: str) -> list[dict[str, Any]]:
    return [py_node(f"{prefix}{i}", "Constant", parameters=[
        {"name": "value", "value": str(i), "type": "FLOAT"}]) for i in (0, 1)]


def test_quantiles_interpolate_within_buckets() -> None:
    buckets = [(0.1, 0.0), (0.2, 50.0), (0.4, 100.0), (float("inf"), 100.0)]
    assert quantile(0.5, buckets) == pytest.approx(0.2)
    assert quantile(0.25, buckets) == pytest.approx(0.15)
    assert quantile(0.95, buckets) == pytest.approx(0.38)
    assert quantile(0.5, []) is None
    assert quantile(0.5, [(0.1, 0.0), (float("inf"), 0.0)]) is None
    assert quantile(0.99, [(0.1, 1.0), (float("inf"), 10.0)]) == 0.1  # beyond the buckets


def test_stats_report_traffic_latency_and_bandit_arms(
        make_engine: Callable[..., GraphEngine]) -> None:
    seed = [{"name": "seed", "value": "5", "type": "INT"}]
    engine = make_engine({"predictors": [
        {"name": "greedy", "traffic": 75, "graph": {
            "name": "eg", "implementation": "EPSILON_GREEDY", "children": arms("g"),
            "parameters": [{"name": "epsilon", "value": "0.3", "type": "FLOAT"}, *seed]}},
        {"name": "thompson", "traffic": 25, "graph": {
            "name": "ts", "implementation": "THOMPSON_SAMPLING", "children": arms("t"),
            "parameters": seed}},
    ]}, name="bandits", seed=1)
    c = AsgiClient(build_app(engine, load=False))
    try:
        first = c.get("/stats").json()
        assert first["requests"] == 0 and first["latency"] == {"p50": None, "p95": None}
        served: dict[str, int] = {}
        for _ in range(200):
            request = {"data": {"ndarray": [[1.0]]}}
            answer = c.post("/api/v1.0/predictions", json=request).json()
            routing = answer["meta"]["routing"]
            node, arm = next(iter(routing.items()))
            served[node] = served.get(node, 0) + 1
            feedback = c.post("/api/v1.0/feedback", json={
                "request": request, "response": answer, "reward": 1.0 if arm == 1 else 0.0})
            assert feedback.status_code == 200, feedback.text
        stats = c.get("/stats").json()
    finally:
        c.close()
    assert stats["graph"] == "bandits"
    assert stats["requests"] == 200 and stats["errors"] == 0
    assert stats["rate"]["perSecond"] > 0
    assert 0 < stats["latency"]["p50"] <= stats["latency"]["p95"] < 5
    split = {p["name"]: p for p in stats["predictors"]}
    assert split["greedy"]["traffic"] == 75 and split["thompson"]["traffic"] == 25
    assert split["greedy"]["requests"] == served["eg"]
    assert split["thompson"]["requests"] == served["ts"]
    assert split["greedy"]["share"] == pytest.approx(served["eg"] / 200)
    assert 0.6 < split["greedy"]["share"] < 0.9  # 75 % of 200 draws
    routers = {r["node"]: r for r in stats["routers"]}
    eg, ts = routers["eg"], routers["ts"]
    assert sum(a["pulls"] for a in eg["arms"]) == served["eg"]
    assert sum(a["pulls"] for a in ts["arms"]) == served["ts"]
    # arm 1 always earns the reward, arm 0 never
    assert eg["best"] == 1
    assert eg["arms"][1]["mean"] == 1.0 and eg["arms"][1]["rewards"] == eg["arms"][1]["pulls"]
    assert eg["arms"][0]["rewards"] == 0.0
    assert ts["arms"][1]["mean"] > 0.5 > ts["arms"][0]["mean"]
    assert ts["arms"][1]["alpha"] == ts["arms"][1]["pulls"] + 1
    nodes = {n["node"]: n for n in stats["nodes"]}
    assert nodes["g1"]["requests"] == eg["arms"][1]["pulls"]
    assert nodes["eg"]["type"] == "ROUTER" and nodes["eg"]["latency"]["mean"] > 0
