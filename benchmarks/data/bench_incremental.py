"""An incremental data pipeline over many small files: `python bench_incremental.py`.

FILES files of 1 KiB (FLOWYARD_BENCH_FILES, default 5,000) in 20 folders, a DataPipeline with
glob `/*/*` (one datum per file) and a Python transform; reports the first job, a job after
changing 1% of the files (re-put first), and a run with nothing changed, in-process. The
question it answers is the issue's "an incremental pipeline run costs in proportion to the
change": the 1% job against the first. There is no peer run beside it: DVC's `dvc repro`
runs a stage again as a whole when any of its inputs changed, it has no per-file datums.
`FLOWYARD_DATUM_FORK=0` runs each datum in a fresh interpreter instead of a fork of the warm
zygote, for the before/after of that change.
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
import time
from pathlib import Path

from flowyard.data import DataStore
from flowyard.data.pipelines import DataPipelines
from flowyard.resources.data_pipeline import DataPipeline
from flowyard.settings import Settings

TRANSFORM = Path(__file__).resolve().parent / "transform_upper.py"


def main() -> None:
    n = int(os.environ.get("FLOWYARD_BENCH_FILES", "5000"))
    rng = random.Random(1)
    with tempfile.TemporaryDirectory(prefix="fy-incr-") as tmp:
        src = Path(tmp) / "src"
        for i in range(n):
            path = src / f"d{i % 20:02d}" / f"f{i:06d}.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(rng.randbytes(512).hex().encode())
        past = time.time() - 10   # out of the stat cache's racy window
        for path in src.rglob("*.txt"):
            os.utime(path, (past, past))
        with DataStore.from_settings(Settings(home=Path(tmp) / "home")) as ds:
            ds.create_repo("raw")
            ds.put("raw@master", [src])
            pipes = DataPipelines(ds)
            pipes.create(DataPipeline.build("up", {
                "input": {"pfs": {"repo": "raw", "glob": "/*/*"}},
                "transform": {"python": f"{TRANSFORM}:upper"}, "parallelism": 2}))
            started = time.perf_counter()
            first = pipes.run("up")
            t_first = time.perf_counter() - started
            for path in rng.sample(sorted(src.rglob("*.txt")), max(1, n // 100)):
                path.write_bytes(b"changed " + rng.randbytes(8).hex().encode())
                os.utime(path, (past, past))
            ds.put("raw@master", [src])
            started = time.perf_counter()
            second = pipes.run("up")
            t_second = time.perf_counter() - started
            started = time.perf_counter()
            third = pipes.run("up")
            t_third = time.perf_counter() - started
            delta = ds._tree(ds.resolve("up@master")).base is not None
    ok = first.state == second.state == "Succeeded" and third.id == second.id
    print(f"# incremental data pipeline, {n} files, one datum each, parallelism 2")
    print("| job | datums run | seconds |")
    print("|---|---|---|")
    print(f"| first | {first.stats['processed']} | {t_first:.2f} |")
    print(f"| after 1% changed | {second.stats['processed']} | {t_second:.2f} |")
    print(f"| nothing changed (no job) | 0 | {t_third:.3f} |")
    print(f"\n1% job / first job: {t_second / t_first:.3f}; output commit a delta: {delta}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
