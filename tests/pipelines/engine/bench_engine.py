"""Micro measurements of the local engine (not collected by pytest).

    python tests/pipelines/engine/bench_engine.py [steps]

1. how long starting one no-op step takes, sequentially, with the engine's zygote and with
   the alternatives (multiprocessing forkserver, a fresh interpreter);
2. 1,000 no-op steps with workers=2: two chains of 500 (at most two steps ready, so every
   millisecond is engine overhead) and one loop of 1,000 iterations (parallelism 2).
   Latency of a step = its last dependency recorded finished -> it recorded finished
   (chains) or its Running event -> its Succeeded event (loop).
Machines shared with other jobs move these numbers by 30 % or more: run it several times.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def _dist(values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    return (f"median {statistics.median(ms):.2f} ms, p95 {ms[int(len(ms) * 0.95)]:.2f} ms, "
            f"p99 {ms[int(len(ms) * 0.99)]:.2f} ms")


def _noop() -> None:
    pass


def start_costs(home: Path, n: int = 200) -> None:
    from flowyard.pipelines.engine.pool import ProcessReport, ZygotePool

    pool, reports = ZygotePool(), queue.Queue[ProcessReport]()
    (home / "logs").mkdir(parents=True, exist_ok=True)

    def task(i: int) -> dict[str, Any]:
        return {"run_id": "r", "step_id": "s", "attempt": 1, "log": f"{home}/logs/{i}.log",
                "work": f"{home}/work", "result": f"{home}/{i}.json",
                "objects": {"url": f"{home}/objects", "cache_dir": f"{home}/cache"},
                "parameters": {}, "input_artifacts": {}, "output_parameters": {},
                "output_artifacts": {},
                "python": {"function": "f", "source": "def f():\n    pass\n"}}

    def one(i: int) -> float:
        started = time.perf_counter()
        pool.submit(task(i), reports.put, key="noop")
        while reports.empty():
            pool.pump(1.0)
        reports.get()
        return time.perf_counter() - started

    for i in range(20):
        one(i)
    print(f"  zygote spare (log + result stored)  {_dist([one(i) for i in range(n)])}")
    pool.close()

    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["json", "blake3", "flowyard.pipelines.artifacts"])

    def forked() -> float:
        started = time.perf_counter()
        proc = ctx.Process(target=_noop)
        proc.start()
        proc.join()
        return time.perf_counter() - started

    for _ in range(5):
        forked()
    print(f"  multiprocessing forkserver (noop)   {_dist([forked() for _ in range(n)])}")

    def fresh() -> float:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import json, blake3, flowyard.pipelines.artifacts"],
                       check=True)
        return time.perf_counter() - started

    print(f"  fresh interpreter + step imports    {_dist([fresh() for _ in range(n // 5)])}")


def big(home: Path, n: int) -> None:
    from flowyard.pipelines.engine import Engine, RunEvent
    from flowyard.resources.pipeline import Pipeline
    from flowyard.settings import Settings
    from flowyard.store.metadata import MetadataStore
    from flowyard.store.objects import ObjectStore

    noop = {"python": {"function": "noop", "source": "def noop(i: int = 0) -> None:\n    pass\n"},
            "inputs": {"parameters": [{"name": "i", "type": "int", "default": 0}]}}
    half = n // 2
    chains = [{"name": f"{c}{i}", "component": "noop",
               **({"after": [f"{c}{i - 1}"]} if i else {})}
              for c in "ab" for i in range(half)]
    shapes = {
        "two chains": {"components": {"noop": noop}, "steps": chains},
        "one loop": {"components": {"noop": noop}, "parallelism": 2,
                     "steps": [{"name": "n", "component": "noop", "forEach": list(range(n)),
                                "arguments": {"i": {"item": True}}}]},
    }
    for label, spec in shapes.items():
        run_home = home / label.replace(" ", "-")
        settings = Settings(home=run_home)
        metadata = MetadataStore.from_settings(settings)
        engine = Engine(metadata, ObjectStore.from_settings(settings), settings, workers=2)
        pipeline = Pipeline.model_validate({"apiVersion": "flowyard.dev/v1alpha1",
                                            "kind": "Pipeline", "metadata": {"name": "big"},
                                            "spec": spec})
        seen: dict[tuple[str, str], float] = {}

        def on_event(event: RunEvent, seen: dict[tuple[str, str], float] = seen) -> None:
            if event.step_id is not None:
                seen.setdefault((event.step_id, event.state), time.perf_counter())

        started = time.perf_counter()
        run = engine.run(pipeline, cache=False, on_event=on_event)
        wall = time.perf_counter() - started
        steps = {s.id: s for s in metadata.get_steps(run.id)}
        if label == "two chains":
            lat = []
            for step in steps.values():
                prev = steps.get(f"{step.id[0]}{int(step.id[1:]) - 1}")
                ready = prev.finished_at if prev else run.started_at
                assert step.finished_at is not None and ready is not None
                lat.append((step.finished_at - ready).total_seconds())
        else:
            lat = [seen[(s, "Succeeded")] - seen[(s, "Running")]
                   for s in steps if s.startswith("n[")]
        print(f"  {label}: {run.state}, {n / wall:.0f} steps/s, {_dist(lat)}")
        engine.close()
        metadata.close()


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    home = Path(tempfile.mkdtemp(prefix="flowyard-engine-bench-"))
    try:
        print(f"load average {os.getloadavg()[0]:.2f}; starting one no-op step:")
        start_costs(home / "start")
        print(f"{n} no-op steps, workers=2:")
        big(home, n)
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
