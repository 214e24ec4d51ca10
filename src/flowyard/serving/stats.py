"""A JSON summary of one serving process: requests, rate, latency, traffic and routers.

Read from the server's own Prometheus registry (the numbers `/metrics` exposes) and the
routers' learned state, so `/stats` and `/metrics` never disagree. Latency percentiles are
estimated from the histogram buckets by linear interpolation, as PromQL's
`histogram_quantile` does. With several worker processes each answers for itself.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flowyard.serving.graph import GraphEngine, NodeExec

Labels = tuple[str, ...]


def _samples(metric: Any, suffix: str) -> Iterable[tuple[dict[str, str], float]]:
    for family in metric.collect():
        for s in family.samples:
            if s.name.endswith(suffix):
                yield s.labels, float(s.value)


def quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """The q-quantile of a cumulative histogram [(upper bound, count), ...], or None."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    total = buckets[-1][1]
    rank = q * total
    low, below = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return low  # beyond the last finite bucket: its lower edge is all we know
            span = count - below
            return low + (bound - low) * ((rank - below) / span if span else 0.0)
        low, below = bound, count
    return low


class StatsBook:
    """Turns the registry into the `/stats` document; remembers the previous answer so the
    request rate covers the time since the last look (the first look: since start)."""

    def __init__(self, engine: GraphEngine) -> None:
        self.engine = engine
        self.started = time.monotonic()
        self._last: tuple[float, float] | None = None

    def _requests(self) -> dict[Labels, float]:
        out: dict[Labels, float] = {}
        for labels, value in _samples(self.engine.metrics.node_requests, "_total"):
            if labels.get("graph") == self.engine.name:
                key = (labels["predictor"], labels["node"], labels["outcome"])
                out[key] = out.get(key, 0.0) + value
        return out

    def _latency(self) -> dict[tuple[str, str], dict[str, Any]]:
        hist: dict[tuple[str, str], dict[str, Any]] = {}
        metric = self.engine.metrics.node_latency
        for family in metric.collect():
            for s in family.samples:
                if s.labels.get("graph") != self.engine.name:
                    continue
                entry = hist.setdefault((s.labels["predictor"], s.labels["node"]),
                                        {"buckets": [], "sum": 0.0, "count": 0.0})
                if s.name.endswith("_bucket"):
                    entry["buckets"].append((float(s.labels["le"]), float(s.value)))
                elif s.name.endswith("_sum"):
                    entry["sum"] = float(s.value)
                elif s.name.endswith("_count"):
                    entry["count"] = float(s.value)
        return hist

    def document(self) -> dict[str, Any]:
        engine = self.engine
        requests = self._requests()
        hist = self._latency()
        now = time.monotonic()
        predictors: list[dict[str, Any]] = []
        nodes: list[dict[str, Any]] = []
        routers: list[dict[str, Any]] = []
        total = errors = 0.0
        merged: dict[float, float] = {}
        for pe in engine.predictors.values():
            root = (pe.name, pe.root.node.name)
            ok = requests.get((*root, "ok"), 0.0)
            bad = requests.get((*root, "error"), 0.0)
            if not pe.spec.shadow:
                total += ok + bad
                errors += bad
                for bound, count in hist.get(root, {}).get("buckets", []):
                    merged[bound] = merged.get(bound, 0.0) + count
            predictors.append({"name": pe.name, "traffic": pe.traffic,
                               "shadow": bool(pe.spec.shadow), "requests": int(ok + bad),
                               "errors": int(bad)})
            for ne in pe.root.walk():
                nodes.append(self._node(pe.name, ne, requests, hist))
                state = ne.runtime.get_state() if ne.children else None
                if state is not None or str(ne.ntype) == "ROUTER":
                    routers.append(self._router(pe.name, ne, state or {}, requests))
        live = sum(p["requests"] for p in predictors if not p["shadow"])
        for p in predictors:
            p["share"] = None if p["shadow"] or not live else p["requests"] / live
        since, before = self._last if self._last is not None else (self.started, 0.0)
        window = max(now - since, 1e-9)
        self._last = (now, total)
        buckets = sorted(merged.items())
        return {
            "graph": engine.name,
            "uptimeSeconds": round(now - self.started, 3),
            "requests": int(total),
            "errors": int(errors),
            "rate": {"perSecond": (total - before) / window, "windowSeconds": round(window, 3)},
            "latency": {"p50": quantile(0.5, buckets), "p95": quantile(0.95, buckets)},
            "predictors": predictors,
            "nodes": nodes,
            "routers": routers,
        }

    @staticmethod
    def _node(predictor: str, ne: NodeExec, requests: dict[Labels, float],
              hist: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
        name = ne.node.name
        h = hist.get((predictor, name), {"buckets": [], "sum": 0.0, "count": 0.0})
        count = h["count"]
        return {
            "predictor": predictor, "node": name, "type": str(ne.ntype),
            "implementation": ne.runtime.describe(), "status": ne.status,
            "requests": int(requests.get((predictor, name, "ok"), 0.0)
                            + requests.get((predictor, name, "error"), 0.0)),
            "errors": int(requests.get((predictor, name, "error"), 0.0)),
            "latency": {"p50": quantile(0.5, h["buckets"]), "p95": quantile(0.95, h["buckets"]),
                        "mean": h["sum"] / count if count else None},
        }

    @staticmethod
    def _router(predictor: str, ne: NodeExec, state: dict[str, Any],
                requests: dict[Labels, float]) -> dict[str, Any]:
        """Arms of a bandit: pulls (requests its child served), rewards and their mean."""
        arms = []
        for i, child in enumerate(ne.children):
            name = child.node.name
            pulls = int(requests.get((predictor, name, "ok"), 0.0)
                        + requests.get((predictor, name, "error"), 0.0))
            arm: dict[str, Any] = {"index": i, "child": name, "pulls": pulls}
            if "success" in state and "tries" in state:  # epsilon-greedy
                wins, tries = float(state["success"][i]), float(state["tries"][i])
                arm.update(rewards=wins, feedback=tries, mean=wins / tries if tries else None)
            elif "alpha" in state and "beta" in state:  # Thompson sampling: Beta(a, b)
                a, b = float(state["alpha"][i]), float(state["beta"][i])
                arm.update(rewards=a - 1.0, feedback=a + b - 2.0, mean=a / (a + b),
                           alpha=a, beta=b)
            arms.append(arm)
        doc: dict[str, Any] = {"predictor": predictor, "node": ne.node.name,
                               "implementation": ne.runtime.describe(), "arms": arms}
        if "best" in state:
            doc["best"] = int(state["best"])
        return doc
