"""Where a step's time goes in the driver: wall and CPU per call of the engine's hot functions.

Usage: python benchmarks/pipelines/profile_engine.py [WORKLOAD] (default big; BIG_SHAPE etc. as
for flowyard_workloads.py). Wraps the functions below with timers (those that do not exist in
this version are skipped), runs the workload in this process, and prints one line per
function: calls, wall ms per call, CPU ms per call (this thread), total wall. Wall much above
CPU means waiting: for a child, for the disk, or for the CPU on a busy machine.
"""

from __future__ import annotations

import functools
import runpy
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

TARGETS = {
    "flowyard.store.metadata:MetadataStore": [
        "save_step", "save_steps", "finish_step", "write_batch", "get_run", "update_run",
        "create_run"],
    "flowyard.pipelines.engine.pool:ZygotePool": ["submit", "pump", "_write", "_dispatch"],
    "flowyard.pipelines.engine.scheduler:RunDriver": [
        "_start", "_finish", "_read_result", "emit", "_settle", "process_ready", "pump",
        "wait", "handle_report"],
    "flowyard.store.objects:ObjectStore": ["put_file", "put_bytes"],
}


def main() -> None:
    stats: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])

    def wrap(owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            t, c = time.perf_counter(), time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                entry = stats[label]
                entry[0] += 1
                entry[1] += time.perf_counter() - t
                entry[2] += time.thread_time() - c

        setattr(owner, name, timed)

    import importlib

    for target, names in TARGETS.items():
        module_name, cls_name = target.split(":")
        try:
            owner = getattr(importlib.import_module(module_name), cls_name)
        except (ImportError, AttributeError):
            continue
        for name in names:
            if hasattr(owner, name):
                wrap(owner, name, f"{cls_name}.{name}")

    workload = sys.argv[1] if len(sys.argv) > 1 else "big"
    sys.argv = ["flowyard_workloads.py", workload, "--engine"]
    cpu0 = time.process_time()
    try:
        runpy.run_path(str(HERE / "flowyard_workloads.py"), run_name="__main__")
    finally:
        print(f"driver process CPU {time.process_time() - cpu0:.3f} s (all threads)")
        print(f"{'function':34} {'calls':>6} {'wall ms/call':>13} {'CPU ms/call':>12} "
              f"{'wall s':>7}")
        for label, (n, wall, cpu) in sorted(stats.items(), key=lambda kv: -kv[1][1]):
            print(f"{label:34} {int(n):6d} {wall / n * 1000:13.3f} {cpu / n * 1000:12.3f} "
                  f"{wall:7.3f}")


if __name__ == "__main__":
    main()
