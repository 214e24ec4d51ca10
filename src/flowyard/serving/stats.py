"""A JSON summary of a serving process: requests, rate, latency, traffic and routers.

Read from the server's own Prometheus registry (the numbers `/metrics` exposes) and the
routers' learned state, so `/stats` and `/metrics` never disagree. Latency percentiles are
estimated from the histogram buckets by linear interpolation, as PromQL's
`histogram_quantile` does.

With several worker processes (`serve(workers=N)`), each worker writes a snapshot of its raw
numbers (counters, histogram buckets, router state) to a folder the server shares with its
workers (`$FLOWYARD_SERVING_STATS_DIR`, one JSON file per worker, replaced atomically) every
half second when they changed, and whichever worker answers `/stats` adds them up with its
own current numbers: requests and buckets are summed; a bandit's successes and rated rows
(or Beta evidence) are summed too, so an arm's mean is the mean over every worker's feedback,
each worker weighted by how much feedback it got. Files are the simplest shared place that
needs no coordination: a worker that is busy or gone still counts with its last snapshot.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from flowyard.serving.state import ADDITIVE

if TYPE_CHECKING:
    from flowyard.serving.graph import GraphEngine, NodeExec
    from flowyard.serving.state import StateStore

Labels = tuple[str, ...]
SHARE_ENV: Final = "FLOWYARD_SERVING_STATS_DIR"
PUBLISH_INTERVAL: Final = 0.5
RATE_FILE: Final = "rate.json"
STATUS_ORDER: Final = {"failed": 0, "loading": 1, "ready": 2}


SHARE_PREFIX: Final = "flowyard-stats-"


def make_share(graph: str, tmp: Path | None = None) -> Path:
    """The folder the workers of one server share, named after the server's pid; folders of
    servers that died without removing theirs (SIGKILL) are removed first."""
    import tempfile

    root = Path(tmp or tempfile.gettempdir())
    sweep_shares(root)
    return Path(tempfile.mkdtemp(prefix=f"{SHARE_PREFIX}{os.getpid()}-{graph}-", dir=root))


def sweep_shares(root: Path) -> list[Path]:
    """Remove the share folders under `root` whose server process is gone; those removed."""
    import shutil

    removed = []
    with contextlib.suppress(OSError):
        for folder in root.glob(f"{SHARE_PREFIX}*"):
            pid_text = folder.name[len(SHARE_PREFIX):].split("-", 1)[0]
            if not pid_text.isdigit() or _alive(int(pid_text)):
                continue
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # another user's process: alive, and not ours to touch
        return True
    return True


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


class RecordingStateStore:
    """A StateStore that remembers what `load` returned: the router state this worker
    started from, so summing workers counts a restored state once, not once per worker."""

    def __init__(self, inner: StateStore) -> None:
        self.inner = inner
        self.loaded: dict[str, dict[str, Any]] | None = None
        self.loaded_at: float | None = None

    def load(self, graph: str) -> dict[str, dict[str, Any]]:
        data = self.inner.load(graph)
        self.loaded = json.loads(json.dumps(data))  # a copy the routers cannot change
        self.loaded_at = time.monotonic()
        return data

    def save(self, graph: str, key: str, state: dict[str, Any]) -> None:
        self.inner.save(graph, key, state)


class StatsBook:
    """Turns the registry into the `/stats` document; remembers the previous answer so the
    request rate covers the time since the last look (the first look: since start).

    `share` (default `$FLOWYARD_SERVING_STATS_DIR`) is the folder the workers of one server
    publish their snapshots to; without one, the document is this process's alone."""

    def __init__(self, engine: GraphEngine, share: Path | None = None) -> None:
        self.engine = engine
        self.started = time.monotonic()  # CLOCK_MONOTONIC: one clock for every process
        self._last: tuple[float, float] | None = None
        folder = share or (Path(os.environ[SHARE_ENV]) if os.environ.get(SHARE_ENV) else None)
        self.share = WorkerShare(folder, self) if folder is not None else None

    # -- one worker's raw numbers -----------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """This process's numbers as JSON: what a worker publishes for the others."""
        engine = self.engine
        requests = [[*key, value] for key, value in self._requests().items()]
        latency = [[pred, node, [[str(b), c] for b, c in h["buckets"]], h["sum"], h["count"]]
                   for (pred, node), h in self._latency().items()]
        store = engine.state_store
        loaded = store.loaded if isinstance(store, RecordingStateStore) else None
        routers: dict[str, Any] = {}
        status: dict[str, str] = {}
        for pe in engine.predictors.values():
            for ne in pe.root.walk():
                status[ne.key] = ne.status
                state = ne.runtime.get_state() if ne.children else None
                if state is not None:
                    routers[ne.key] = {"state": state,
                                       "loaded": (loaded or {}).get(ne.key)}
        return {"pid": os.getpid(), "started": self.started,
                "loadedAt": store.loaded_at if isinstance(store, RecordingStateStore) else None,
                "requests": requests, "latency": latency, "routers": routers,
                "status": status}

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

    # -- the document -----------------------------------------------------------------------
    def document(self) -> dict[str, Any]:
        own = self.snapshot()
        workers = [own]
        if self.share is not None:
            self.share.publish(own)
            workers += self.share.peers()
        totals = combine(workers)
        return self._render(totals, len(workers))

    def _render(self, totals: Totals, workers: int) -> dict[str, Any]:
        engine = self.engine
        requests, hist = totals.requests, totals.hist
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
                nodes.append(self._node(pe.name, ne, requests, hist,
                                        totals.status.get(ne.key, ne.status)))
                state = totals.routers.get(ne.key) if ne.children else None
                if state is not None or str(ne.ntype) == "ROUTER":
                    routers.append(self._router(pe.name, ne, state or {}, requests))
        live = sum(p["requests"] for p in predictors if not p["shadow"])
        for p in predictors:
            p["share"] = None if p["shadow"] or not live else p["requests"] / live
        started = min(totals.started, self.started)
        since, before = self._previous(now, total, started)
        window = max(now - since, 1e-9)
        buckets = sorted(merged.items())
        return {
            "graph": engine.name,
            "workers": workers,
            "uptimeSeconds": round(now - started, 3),
            "requests": int(total),
            "errors": int(errors),
            "rate": {"perSecond": (total - before) / window, "windowSeconds": round(window, 3)},
            "latency": {"p50": quantile(0.5, buckets), "p95": quantile(0.95, buckets)},
            "predictors": predictors,
            "nodes": nodes,
            "routers": routers,
        }

    def _previous(self, now: float, total: float, started: float) -> tuple[float, float]:
        """(time, total requests) of the previous look, and remember this one. Shared by
        the workers: the next `/stats` may reach any of them."""
        if self.share is not None:
            return self.share.swap_rate(now, total, started)
        since, before = self._last if self._last is not None else (started, 0.0)
        self._last = (now, total)
        return since, before

    @staticmethod
    def _node(predictor: str, ne: NodeExec, requests: dict[Labels, float],
              hist: dict[tuple[str, str], dict[str, Any]], status: str) -> dict[str, Any]:
        name = ne.node.name
        h = hist.get((predictor, name), {"buckets": [], "sum": 0.0, "count": 0.0})
        count = h["count"]
        return {
            "predictor": predictor, "node": name, "type": str(ne.ntype),
            "implementation": ne.runtime.describe(), "status": status,
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


class Totals:
    """Several workers' snapshots added up (see `combine`)."""

    def __init__(self) -> None:
        self.requests: dict[Labels, float] = {}
        self.hist: dict[tuple[str, str], dict[str, Any]] = {}
        self.routers: dict[str, dict[str, Any]] = {}
        self.status: dict[str, str] = {}
        self.started = float("inf")


def combine(workers: list[dict[str, Any]]) -> Totals:
    """Sum the snapshots of the workers of one server; the first is the answering one (its
    state wins where states cannot be added up)."""
    out = Totals()
    for w in workers:
        out.started = min(out.started, float(w["started"]))
        for pred, node, outcome, value in w["requests"]:
            key = (pred, node, outcome)
            out.requests[key] = out.requests.get(key, 0.0) + float(value)
        for pred, node, buckets, total, count in w["latency"]:
            h = out.hist.setdefault((pred, node), {"buckets": {}, "sum": 0.0, "count": 0.0})
            for bound, value in buckets:
                h["buckets"][float(bound)] = h["buckets"].get(float(bound), 0.0) + float(value)
            h["sum"] += float(total)
            h["count"] += float(count)
        for key, status in w["status"].items():
            seen = out.status.get(key)
            if seen is None or STATUS_ORDER.get(status, 0) < STATUS_ORDER.get(seen, 0):
                out.status[key] = status  # the least ready worker speaks for the node
    for h in out.hist.values():
        h["buckets"] = sorted(h["buckets"].items())
    keys = {key for w in workers for key in w["routers"]}
    for key in keys:
        parts = [(w["routers"][key], w.get("loadedAt")) for w in workers if key in w["routers"]]
        out.routers[key] = combine_router([p for p, _ in parts],
                                          [t if t is not None else float("inf")
                                           for _, t in parts])
    return out


def combine_router(parts: list[Mapping[str, Any]], loaded_at: list[float]) -> dict[str, Any]:
    """One router's state over workers: each `{"state", "loaded"}` (what the worker restored
    at start, or None). Additive counts become restored + the sum of what each worker learned
    since it restored; a state that is not counts is the first worker's."""
    first = dict(parts[0]["state"])
    # The pairs `_router` reads (epsilon-greedy, Thompson); a user router's state may mean
    # anything, so it is not added up.
    fields = next((pair for pair in (("success", "tries"), ("alpha", "beta"))
                   if all(_counts(p["state"].get(f)) for p in parts for f in pair)), ())
    if len(parts) == 1 or not fields:
        return first
    n = len(first[fields[0]])
    if any(len(p["state"][f]) != n for p in parts for f in fields):
        return first  # workers disagree on the arms: nothing sound to add
    # The state restored at start counts once: the earliest-restoring worker's (workers that
    # started later may have restored what others had learned meanwhile).
    earliest = min(range(len(parts)), key=lambda i: loaded_at[i])
    out = dict(first)
    for f in fields:
        base = _base(parts[earliest], f, n)
        total = list(base)
        for p in parts:
            own = _base(p, f, n)
            for i, value in enumerate(p["state"][f]):
                total[i] += float(value) - own[i]
        out[f] = total
    if "best" in first and "success" in out and "tries" in out and any(out["tries"]):
        # The arm the pooled evidence favours, by EpsilonGreedy's own rule.
        rates = [s / t if t else 0.0 for s, t in zip(out["success"], out["tries"], strict=True)]
        out["best"] = max(range(n), key=lambda i: rates[i])
    return out


def _counts(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, int | float) for v in value)


def _base(part: Mapping[str, Any], field: str, n: int) -> list[float]:
    loaded = part.get("loaded") or {}
    values = loaded.get(field)
    if isinstance(values, list) and _counts(values) and len(values) == n:
        return [float(v) for v in values]
    return [ADDITIVE[field]] * n


class WorkerShare:
    """This worker's snapshot file in the server's shared folder, and the others'."""

    def __init__(self, folder: Path, book: StatsBook) -> None:
        self.folder = folder
        self.book = book
        self.path = folder / f"worker-{os.getpid()}.json"
        self._written = ""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        # A thread rather than a task: the book exists before the app's event loop runs,
        # and publishing must not wait for a `/stats` request reaching this worker.
        threading.Thread(target=self._run, name="flowyard-stats-publisher",
                         daemon=True).start()
        atexit.register(self.close)

    def _run(self) -> None:
        while not self._stop.wait(PUBLISH_INTERVAL):
            with contextlib.suppress(Exception):  # a full disk must not kill the worker
                self.publish(self.book.snapshot())

    def publish(self, snapshot: dict[str, Any]) -> None:
        text = json.dumps(snapshot, sort_keys=True)
        with self._lock:
            if text == self._written:
                return
            _replace(self.path, text)
            self._written = text

    def peers(self) -> list[dict[str, Any]]:
        """The other workers' last snapshots (those of workers that exited included: what
        they served was served)."""
        found = []
        for path in sorted(self.folder.glob("worker-*.json")):
            if path == self.path:
                continue
            try:
                found.append(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError):
                continue  # gone meanwhile
        return found

    def swap_rate(self, now: float, total: float, started: float) -> tuple[float, float]:
        path = self.folder / RATE_FILE
        try:
            last = json.loads(path.read_text(encoding="utf-8"))
            previous = (float(last["at"]), float(last["total"]))
        except (OSError, ValueError, KeyError, TypeError):
            previous = (started, 0.0)
        with contextlib.suppress(OSError):
            _replace(path, json.dumps({"at": now, "total": total}))
        return previous

    def close(self) -> None:
        """Stop publishing, after a last snapshot (what was served since the last one)."""
        if self._stop.is_set():
            return
        self._stop.set()
        with contextlib.suppress(Exception):
            self.publish(self.book.snapshot())


def _replace(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
