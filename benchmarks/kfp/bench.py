"""kfp.local vs Flowyard on the same kfp-compiled IR files; whole-process wall time.

Usage: python benchmarks/kfp/bench.py [--runs N] [--kfp-python PY] [--peer-pip]

Compiles the pipelines of tests/pipelines/kfp/kfp_pipelines.py with the installed kfp SDK
(`install_kfp_package=False`, as the peer harness times it), then runs each IR file in fresh
processes, interleaving the two tools run by run so that machine noise hits both alike.
kfp: `kfp.local.init(SubprocessRunner(use_venv=False), enable_caching=False)`; Flowyard:
`Client().run(path, cache=False)` in a new FLOWYARD_HOME. Writes
benchmarks/results/kfp-<stamp>.{jsonl,md}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
PIPELINES = REPO / "tests" / "pipelines" / "kfp"
PEER_W2 = Path("/work/shared/peers/pipelines/w2.yaml")
# workload -> (pipeline function, arguments, expected outputs)
WORKLOADS: dict[str, tuple[str, dict[str, object], dict[str, object]]] = {
    "w1-chain10": ("w1", {}, {"Output": 10}),
    "w2-fan20": ("w2", {}, {"Output": 2470}),
    "artifacts": ("artifacts", {}, {"Output": "toy:12.0"}),
    "loops": ("loops", {}, {"Output": 54}),
}


def compile_all(folder: Path) -> dict[str, Path]:
    sys.path.insert(0, str(PIPELINES))
    import kfp_pipelines
    from kfp import compiler

    paths = {}
    for wl, (function, _, _) in WORKLOADS.items():
        paths[wl] = folder / f"{wl}.yaml"
        compiler.Compiler().compile(getattr(kfp_pipelines, function), str(paths[wl]))
    return paths


def timed(cmd: list[str]) -> tuple[float, dict[str, object]]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    # kfp.local indents what is printed after its task logs, so search, not startswith.
    line = next(x for x in proc.stdout.splitlines() if "RESULT " in x)
    result: dict[str, object] = json.loads(line.split("RESULT ", 1)[1])
    return wall, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--kfp-python", default=sys.executable)
    parser.add_argument("--flowyard-python", default=sys.executable)
    parser.add_argument("--peer-pip", action="store_true",
                        help="also run the peer's w2.yaml (kfp's default components: each kfp "
                             "task pip-installs kfp first), one run")
    opts = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="flowyard-kfp-bench-"))
    paths = compile_all(folder)
    cases = [(wl, paths[wl], WORKLOADS[wl][1], WORKLOADS[wl][2]) for wl in WORKLOADS]
    tools = {"kfp": [opts.kfp_python, str(HERE / "run_kfp_local.py")],
             "flowyard": [opts.flowyard_python, str(HERE / "run_flowyard.py")]}
    records = []
    for _wl, path, args, _expected in cases:  # warm-up (.pyc, page cache), not recorded
        for cmd in tools.values():
            timed([*cmd, str(path), *(f"{k}={json.dumps(v)}" for k, v in args.items())])
    for run in range(opts.runs):
        for wl, path, args, expected in cases:
            for tool, cmd in tools.items():
                wall, result = timed([*cmd, str(path),
                                      *(f"{k}={json.dumps(v)}" for k, v in args.items())])
                if result != expected:
                    raise SystemExit(f"{tool} {wl}: got {result}, expected {expected}")
                records.append({"tool": tool, "workload": wl, "run": run, "wall_s": wall})
                print(f"{tool:9} {wl:12} run {run}: {wall:.2f} s", flush=True)
    if opts.peer_pip and PEER_W2.is_file():
        for tool, cmd in tools.items():
            wall, result = timed([*cmd, str(PEER_W2)])
            assert result == {"Output": 2470}, result
            records.append({"tool": tool, "workload": "peer-w2.yaml (pip)", "run": 0,
                            "wall_s": wall})
            print(f"{tool:9} peer-w2-pip  run 0: {wall:.2f} s", flush=True)
    report(records, opts.runs)


def report(records: list[dict[str, object]], runs: int) -> None:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    out = REPO / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    with open(out / f"kfp-{stamp}.jsonl", "w") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")
    lines = [f"# kfp.local vs Flowyard on kfp-compiled IR ({stamp} UTC, median of {runs})", "",
             "| workload | kfp.local | Flowyard | kfp / Flowyard |", "|---|---|---|---|"]
    workloads = list(dict.fromkeys(str(r["workload"]) for r in records))
    for wl in workloads:
        med = {tool: statistics.median(float(str(r["wall_s"])) for r in records
                                       if r["workload"] == wl and r["tool"] == tool)
               for tool in ("kfp", "flowyard")}
        lines.append(f"| {wl} | {med['kfp']:.2f} s | {med['flowyard']:.2f} s | "
                     f"{med['kfp'] / med['flowyard']:.1f}x |")
    text = "\n".join(lines) + "\n"
    (out / f"kfp-{stamp}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
