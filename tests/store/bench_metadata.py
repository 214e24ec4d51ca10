"""Micro-benchmark of the metadata store's hot calls (not a test; run it by hand).

    /work/venv/bin/python tests/store/bench_metadata.py [DATABASE_URL] [STEPS]

Simulates the engine's write pattern for one pipeline of STEPS steps: save_step (Running),
finish_step with one artifact and a cache entry, plus one more save_step; prints µs per call.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from flowyard.store.metadata import MetadataStore
from flowyard.store.records import ArtifactRecord, CacheEntry, RunRecord, StepRecord, utcnow


def main() -> None:
    tmp = tempfile.mkdtemp(prefix="flowyard-bench-")
    url = sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{Path(tmp) / 'bench.db'}"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    store = MetadataStore(url)
    run_id = f"bench-{time.time_ns()}"
    steps = [StepRecord(run_id, f"s[{i}]", "s", i, "comp", inputs={"x": i}) for i in range(n)]
    t0 = time.perf_counter()
    store.create_run(RunRecord(run_id, "default", "bench", {"kind": "Pipeline"}, {"n": n}), steps)
    t_create = time.perf_counter() - t0

    t_save = t_finish = 0.0
    for i, step in enumerate(steps):
        step.state, step.started_at, step.attempt = "Running", utcnow(), 1
        step.input_artifacts = {"data": f"{run_id}-a{i - 1}"} if i else {}
        t0 = time.perf_counter()
        store.save_step(step)
        t1 = time.perf_counter()
        step.state, step.finished_at, step.outputs = "Succeeded", utcnow(), {"y": i}
        art = ArtifactRecord(
            f"{run_id}-a{i}", run_id, step.id, "out", "Dataset", "blake3:" + "0" * 64, 10
        )
        step.output_artifacts = {"out": art.id}
        cache = CacheEntry(f"{run_id}-k{i}", run_id, step.id, step.outputs, step.output_artifacts)
        t2 = time.perf_counter()
        store.finish_step(step, [art], cache)
        t3 = time.perf_counter()
        store.save_step(step)
        t4 = time.perf_counter()
        t_save += (t1 - t0) + (t4 - t3)
        t_finish += t3 - t2
    store.close()
    print(f"{store.url}  steps={n}")
    print(f"create_run with {n} steps: {t_create * 1e3:.1f} ms")
    print(f"save_step:   {t_save / (2 * n) * 1e6:.0f} µs/call")
    print(f"finish_step: {t_finish / n * 1e6:.0f} µs/call (1 artifact + cache entry)")
    print(f"per step (2 saves + 1 finish): {(t_save + t_finish) / n * 1e6:.0f} µs")


if __name__ == "__main__":
    main()
