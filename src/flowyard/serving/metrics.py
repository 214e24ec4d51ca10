"""Prometheus metrics for one server: per-node request counts and latency, feedback, and the
custom metrics user code returns from `metrics()` (Seldon's COUNTER, GAUGE, TIMER)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                   0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_NODE = ["graph", "predictor", "node"]


class ServingMetrics:
    """Every metric family of one server, in its own registry (no process globals)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.node_requests = Counter("flowyard_node_requests", "Requests a graph node served",
                                     [*_NODE, "outcome"], registry=r)
        self.node_latency = Histogram("flowyard_node_latency_seconds",
                                      "Time in a node, its children included", _NODE,
                                      buckets=LATENCY_BUCKETS, registry=r)
        self.predictor_requests = Counter("flowyard_predictor_requests",
                                          "Requests per predictor (canary, shadow)",
                                          ["graph", "predictor", "shadow", "outcome"],
                                          registry=r)
        self.feedback = Counter("flowyard_feedback", "Feedback messages per node", _NODE,
                                registry=r)
        self.reward = Counter("flowyard_feedback_reward", "Sum of rewards per node", _NODE,
                              registry=r)
        self.custom_counter = Counter("flowyard_custom_counter", "COUNTER metrics from user "
                                      "code", [*_NODE, "key"], registry=r)
        self.custom_gauge = Gauge("flowyard_custom_gauge", "GAUGE metrics from user code",
                                  [*_NODE, "key"], registry=r)
        self.custom_timer = Histogram("flowyard_custom_timer_seconds", "TIMER metrics from "
                                      "user code (sent in ms)", [*_NODE, "key"],
                                      buckets=LATENCY_BUCKETS, registry=r)

    def record_custom(self, graph: str, predictor: str, node: str,
                      found: list[dict[str, Any]]) -> None:
        for m in found:
            key, kind, value = m.get("key"), str(m.get("type", "")).upper(), m.get("value")
            if not isinstance(key, str) or not isinstance(value, int | float):
                continue
            labels = (graph, predictor, node, key)
            if kind == "COUNTER" and value >= 0:
                self.custom_counter.labels(*labels).inc(value)
            elif kind == "GAUGE":
                self.custom_gauge.labels(*labels).set(value)
            elif kind == "TIMER":
                self.custom_timer.labels(*labels).observe(value / 1000.0)
