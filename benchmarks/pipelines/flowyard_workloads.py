"""Flowyard side of the pipeline benchmark: one workload per process.

Usage: python flowyard_workloads.py {import,empty,w1,w2,w3,big} [--engine]

Each run gets a fresh FLOWYARD_HOME in a temp folder (BENCH_TMP) and runs with caching OFF, so
it pays every start-up cost a first-time user pays (SQLite schema, object store, worker pool);
BENCH_HOME=DIR reuses one home instead (what a returning user pays).
By default the run goes through `flowyard.Client`; `--engine` (or a missing client) drives
`flowyard.pipelines.engine.Engine` directly.

Prints one `BENCH tool=flowyard ...` line (the same shape the kfp peer script prints) and, for
`big`, one `BENCHJSON {...}` line with the per-step latency figures taken from the run records
and from the engine's events.

`big`: a DAG of no-op steps, shape from BIG_SHAPE (default `chains:2x500`: two independent
chains of 500 steps, so at most 2 steps are ever ready at once and, with workers=2, no step
waits for a free worker; `layers:500x2`: 500 layers of 2 steps, each step after both steps of
the previous layer; `chains:10x100`: 10 chains of 100, so steps queue for the 2 workers).
Workers: BIG_WORKERS (default 2).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from typing import Any

T0 = time.perf_counter()
from flowyard import dsl  # noqa: E402
from flowyard.dsl import Dataset, Input, Output  # noqa: E402

T_IMPORT = time.perf_counter() - T0


@dsl.component
def noop() -> None:
    pass


@dsl.component
def add_one(x: int) -> int:
    return x + 1


@dsl.component
def produce() -> list:  # type: ignore[type-arg]
    return list(range(20))


@dsl.component
def square(x: int) -> int:
    return x * x


@dsl.component
def total(xs: list) -> int:  # type: ignore[type-arg]
    return int(sum(xs))


@dsl.component
def write_blob(out: Output[Dataset], size: int = 50 * 1024 * 1024) -> None:
    import os

    with open(out.path, "wb") as f:
        f.write(os.urandom(size))


@dsl.component
def count_bytes(blob: Input[Dataset]) -> int:
    with open(blob.path, "rb") as f:
        return len(f.read())


@dsl.pipeline(name="w-empty")
def p_empty() -> None:
    noop()


@dsl.pipeline(name="w1-chain")
def p_w1(start: int = 0) -> None:
    t = add_one(x=start)
    for _ in range(9):
        t = add_one(x=t.output)


@dsl.pipeline(name="w2-fan")
def p_w2() -> None:
    p = produce()
    with dsl.ParallelFor(p.output) as item:
        s = square(x=item)
    total(xs=dsl.Collected(s.output))


@dsl.pipeline(name="w3-artifact")
def p_w3() -> None:
    w = write_blob()
    count_bytes(blob=w.outputs["out"])


def big_shape() -> tuple[str, int, int]:
    kind, _, dims = os.environ.get("BIG_SHAPE", "chains:2x500").partition(":")
    a, _, b = dims.partition("x")
    if kind not in ("chains", "layers"):
        raise SystemExit(f"BIG_SHAPE={kind!r}: use chains:CxN or layers:LxW")
    return kind, int(a), int(b)


def make_big() -> Any:
    kind, a, b = big_shape()

    @dsl.pipeline(name="big-noop")
    def p_big() -> None:
        if kind == "chains":  # a chains of b steps
            for _ in range(a):
                prev = None
                for _ in range(b):
                    task = noop()
                    if prev is not None:
                        task.after(prev)
                    prev = task
        else:  # a layers of b steps, each after every step of the layer before
            layer: list[Any] = []
            for _ in range(a):
                new = [noop() for _ in range(b)]
                if layer:
                    for task in new:
                        task.after(*layer)
                layer = new

    return p_big


PIPES = {"empty": p_empty, "w1": p_w1, "w2": p_w2, "w3": p_w3}
# Which step holds the answer, and what it must be.
RESULT_STEP = {"w1": "add-one-10", "w2": "total", "w3": "count-bytes"}
EXPECT = {"w1": 10, "w2": sum(i * i for i in range(20)), "w3": 50 * 1024 * 1024}


def _ts(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.timestamp()
    return datetime.fromisoformat(str(value)).timestamp()


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    idx = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[idx]


def _dist_ms(values: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values]
    if not ms:
        return {}
    return {"n": len(ms), "median": round(statistics.median(ms), 3),
            "p95": round(_pct(ms, 0.95), 3), "p99": round(_pct(ms, 0.99), 3),
            "mean": round(statistics.fmean(ms), 3), "max": round(max(ms), 3),
            "min": round(min(ms), 3)}


class Events:
    """Driver-side clock of the engine's step events (perf_counter, no DB round trip)."""

    def __init__(self) -> None:
        self.first: dict[tuple[str, str], float] = {}
        self.count = 0
        self.run_times: list[float] = []   # each run-level event: Running, then the end

    def __call__(self, event: Any) -> None:
        self.count += 1
        if event.kind == "run":
            self.run_times.append(time.perf_counter())
        if event.kind == "step" and event.step_id is not None:
            self.first.setdefault((event.step_id, event.state), time.perf_counter())


def step_latencies(pipeline: Any, run: Any, steps: list[Any], events: Events,
                   t_exec0: float) -> dict[str, Any]:
    """Per step: ready (last dependency finished, or run start) -> recorded finished."""
    deps = {s.name: list(s.after) for s in pipeline.spec.steps}
    for s in pipeline.spec.steps:
        for ref in s.arguments.values():
            if ref.step is not None:
                deps[s.name].append(ref.step)
    by_id = {s.id: s for s in steps}
    run_start = _ts(run.started_at)
    ready_to_done, ready_to_start, start_to_done = [], [], []
    ev_ready_to_done: list[float] = []
    for s in steps:
        fin, start = _ts(s.finished_at), _ts(s.started_at)
        if fin is None:
            continue
        dep_fins = [_ts(by_id[d].finished_at) for d in deps.get(s.name, []) if d in by_id]
        ready = max([d for d in dep_fins if d is not None], default=run_start)
        if ready is None:
            continue
        ready_to_done.append(fin - ready)
        if start is not None:
            ready_to_start.append(start - ready)
            start_to_done.append(fin - start)
        done_ev = events.first.get((s.id, "Succeeded"))
        if done_ev is not None:
            dep_evs = [events.first.get((d, "Succeeded")) for d in deps.get(s.name, [])]
            ev_ready = max([d for d in dep_evs if d is not None], default=t_exec0)
            ev_ready_to_done.append(done_ev - ev_ready)
    return {"records_ready_to_finished_ms": _dist_ms(ready_to_done),
            "records_ready_to_started_ms": _dist_ms(ready_to_start),
            "records_started_to_finished_ms": _dist_ms(start_to_done),
            "events_ready_to_succeeded_ms": _dist_ms(ev_ready_to_done)}


def phases(events: Events, t0: float, total: float) -> str:
    """Split the run call by the run-level events: before Running, Running to the end, after."""
    if len(events.run_times) < 2:
        return ""
    first, last = events.run_times[0] - t0, events.run_times[-1] - t0
    return (f"run_setup_s={first:.3f} run_steps_s={last - first:.3f} "
            f"run_after_s={total - last:.3f} ")


def main() -> None:
    wl = sys.argv[1]
    use_engine = "--engine" in sys.argv
    # BENCH_HOME: reuse one home across runs (an existing database: no schema creation)
    home = os.environ.get("BENCH_HOME") or tempfile.mkdtemp(
        prefix="flowyard-home-", dir=os.environ.get("BENCH_TMP"))
    os.environ["FLOWYARD_HOME"] = home
    workers = int(os.environ.get("BIG_WORKERS", "2")) if wl == "big" else None
    if wl == "import":
        print(f"BENCH tool=flowyard wl=import import_s={T_IMPORT:.3f} run_s=0.000 result=None")
        return
    t = time.perf_counter()
    pipeline = dsl.compile(make_big() if wl == "big" else PIPES[wl])
    t_compile = time.perf_counter() - t

    events = Events()
    run: Any
    if not use_engine and workers is None:
        from flowyard import Client

        via = "client"
        t = time.perf_counter()
        client = Client()
        t_open = time.perf_counter() - t
        t = time.perf_counter()
        t_exec0 = t
        run = client.run(pipeline, cache=False, on_event=events)
        t_run = t_exec = time.perf_counter() - t
        t_submit = float("nan")
        steps: list[Any] = list(run.steps)
        t = time.perf_counter()
        client.close()
        t_close = time.perf_counter() - t
    else:
        from flowyard.pipelines.engine import Engine
        from flowyard.settings import Settings
        from flowyard.store.metadata import MetadataStore
        from flowyard.store.objects import ObjectStore

        via = "engine"
        t = time.perf_counter()
        settings = Settings(home=home)
        metadata = MetadataStore.from_settings(settings)
        objects = ObjectStore.from_settings(settings)
        engine = Engine(metadata, objects, settings, workers=workers)
        t_open = time.perf_counter() - t
        t = time.perf_counter()
        submitted = engine.submit(pipeline, cache=False)
        t_submit = time.perf_counter() - t
        t_exec0 = time.perf_counter()
        run = engine.execute(submitted.id, on_event=events)
        t_exec = time.perf_counter() - t_exec0
        t_run = time.perf_counter() - t
        steps = metadata.get_steps(run.id)
        t = time.perf_counter()
        engine.close()
        metadata.close()
        t_close = time.perf_counter() - t

    result = None
    if wl in RESULT_STEP:
        for s in steps:
            if s.name == RESULT_STEP[wl]:
                result = s.outputs.get("Output")
    ok = run.state == "Succeeded" and (wl not in EXPECT or result == EXPECT[wl])
    print(f"BENCH tool=flowyard wl={wl} via={via} state={run.state} import_s={T_IMPORT:.3f} "
          f"compile_s={t_compile:.3f} open_s={t_open:.3f} submit_s={t_submit:.3f} "
          f"run_s={t_run:.3f} {phases(events, t_exec0, t_exec)}close_s={t_close:.3f} "
          f"main_s={time.perf_counter() - T0:.3f} "
          f"result={result} ok={ok}")
    if wl == "big":
        kind, a, b = big_shape()
        n = len(steps)
        info: dict[str, Any] = {
            "shape": f"{kind}:{a}x{b}", "steps": n, "workers": workers, "state": run.state,
            "submit_s": round(t_submit, 4), "execute_s": round(t_exec, 4),
            "run_s": round(t_run, 4),
            "steps_per_s_run": round(n / t_run, 1), "steps_per_s_execute": round(n / t_exec, 1),
            "events": events.count,
            **step_latencies(pipeline, run, steps, events, t_exec0),
        }
        print("BENCHJSON " + json.dumps(info))
    if not ok:
        print(f"run {run.id} state={run.state} error={run.error!r} result={result!r}",
              file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
