"""Versioned data against DVC and `cp -r`, side by side on the same machine and data.

    python benchmarks/data/bench_data.py                       # full D1 + D2 (a few minutes)
    FLOWYARD_BENCH_SCALE=0.05 python benchmarks/data/bench_data.py   # a quick run

Data sets (from the peer script shared/peers/data/gen_data.py, scaled by FLOWYARD_BENCH_SCALE):
D1 = 2,000 files x 256 KiB plus 200 duplicates, D2 = 100,000 files x 1 KiB. Each tool works
on its own copy. Timed as whole processes, as a user runs them: `cp -r`; `flowyard data put`
(first, no change, after changing 1% of the files), `flowyard data get` into an empty folder;
`dvc add` (first, no change, 1% changed) and `dvc checkout` after removing the data.

DVC runs from its own virtualenv: FLOWYARD_BENCH_DVC=/path/to/dvc, else
$FLOWYARD_BENCH_DIR/dvc-venv is created with `pip install dvc`; FLOWYARD_BENCH_NO_DVC=1 skips it.
FLOWYARD_BENCH_ONLY=D2 (or D1) runs one data set. FLOWYARD_BENCH_RUNS=3 repeats every
tool's sequence (tools interleaved: flowyard, dvc, flowyard, ...) and reports medians.
FLOWYARD_BENCH_BASE=/path/to/src times a second Flowyard (e.g. `git archive HEAD src` unpacked
there, put first on PYTHONPATH) in the same runs, as "flowyard (base)": before/after figures
of a change measured side by side. FLOWYARD_BENCH_FIRST_ONLY=1 times only the first put.
The first put is also reported as CPU time (user + sys of the process) with the load average
it ran at.
Results: a Markdown table on stdout and in benchmarks/results/data-<time>.{md,json}.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
PEER_GEN = Path(
    os.environ.get("FLOWYARD_PEERS_DATA", REPO_ROOT.parent / "shared" / "peers" / "data")
) / "gen_data.py"
SCALE = float(os.environ.get("FLOWYARD_BENCH_SCALE", "1"))
W = Path(os.environ.get("FLOWYARD_BENCH_DIR", "/tmp/flowyard-bench-data"))
PY = sys.executable
FIRST_ONLY = bool(os.environ.get("FLOWYARD_BENCH_FIRST_ONLY"))
"""Only start-up and the first put (the issue's 10x target), for more runs in less time."""
CLI = "import sys; from flowyard.cli.data import app; app(sys.argv[1:], prog_name='flowyard data')"


def gen_module() -> Any:  # the peer script's module, with its data-set sizes
    if not PEER_GEN.is_file():
        sys.exit(f"peer data generator not found at {PEER_GEN} (set FLOWYARD_PEERS_DATA)")
    spec = importlib.util.spec_from_file_location("peer_gen_data", PEER_GEN)
    assert spec is not None and spec.loader is not None
    mod: Any = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    # Scale the data sets, keeping their shape (files per folder, file sizes).
    mod.D1_FILES = max(mod.D1_DIRS, round(mod.D1_FILES * SCALE / mod.D1_DIRS) * mod.D1_DIRS)
    mod.D1_DUPS = max(mod.D1_DIRS, round(mod.D1_DUPS * SCALE / mod.D1_DIRS) * mod.D1_DIRS)
    mod.D2_FILES = max(mod.D2_DIRS, round(mod.D2_FILES * SCALE / mod.D2_DIRS) * mod.D2_DIRS)
    return mod


LAST: dict[str, float] = {}
"""CPU seconds (user + sys) of the last timed command, and the load average before it."""


def timed(cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> float:
    # Write back what earlier steps left dirty (copies of the data), so no tool pays for them.
    os.sync()
    LAST["load"] = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    LAST["cpu"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return elapsed


def first_put(out: dict[str, float], cmd: list[str], cwd: Path | None = None,
              env: dict[str, str] | None = None) -> None:
    """Time the first put, with its CPU time and the load average it ran at: wall time on a
    shared machine follows the load, CPU time much less."""
    out["put (first)"] = timed(cmd, cwd=cwd, env=env)
    out["put (first), CPU s"] = LAST["cpu"]
    out["put (first), load"] = LAST["load"]


def remove(path: Path) -> None:
    """rm -rf (shutil.rmtree of 100,000 files is slow on a busy machine)."""
    subprocess.run(["rm", "-rf", str(path)], check=True)


def copy_tree(src: Path, dest: Path) -> None:
    """A tool's own copy of the data (cp -a: shutil.copytree takes minutes for 100,000 files
    on a busy machine)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-a", str(src), str(dest)], check=True)


def modify(gen: ModuleType, root: Path, n: int) -> None:
    """Change n files with the peer script's modify (same seed for every tool)."""
    with contextlib.redirect_stdout(io.StringIO()):
        gen.modify(str(root), n, 101)


def count_files(root: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(root))


def dvc_path() -> str | None:
    if os.environ.get("FLOWYARD_BENCH_NO_DVC"):
        return None
    if os.environ.get("FLOWYARD_BENCH_DVC"):
        return os.environ["FLOWYARD_BENCH_DVC"]
    venv = W / "dvc-venv"
    if not (venv / "bin" / "dvc").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "dvc"], check=True)
    return str(venv / "bin" / "dvc")


def bench_flowyard(gen: ModuleType, name: str, src: Path, nmod: int,
                   base: str | None = None) -> dict[str, float]:
    home = W / "fy-home"
    remove(home)
    data = W / "fy" / name
    remove(data.parent)
    copy_tree(src, data)
    env = {**os.environ, "FLOWYARD_HOME": str(home)}
    for key in ("FLOWYARD_DATABASE_URL", "FLOWYARD_OBJECT_STORE_URL"):
        env.pop(key, None)
    if base:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (base, env.get("PYTHONPATH")) if p)
    run = [PY, "-c", CLI]
    timed([*run, "repo", "create", "bench"], env=env)
    time.sleep(0.1)  # past the stat cache's racy window, as any real second put would be
    out: dict[str, float] = {}
    # Python start-up and imports, paid by every command (DVC pays its own too).
    out["start-up (repo list)"] = timed([*run, "repo", "list"], env=env)
    first_put(out, [*run, "put", "bench@master", str(data)], env=env)
    if FIRST_ONLY:
        remove(data.parent)
        remove(home)
        return out
    out["put (no change)"] = timed([*run, "put", "bench@master", str(data)], env=env)
    modify(gen, data, nmod)
    out["put (1% changed)"] = timed([*run, "put", "bench@master", str(data)], env=env)
    dest = W / "fy-get"
    remove(dest)
    out["get (empty folder)"] = timed([*run, "get", "bench@master", str(dest)], env=env)
    assert count_files(dest) == count_files(data), "get wrote the wrong number of files"
    remove(dest)
    remove(data.parent)
    remove(home)
    return out


def bench_dvc(gen: ModuleType, dvc: str, name: str, src: Path, nmod: int) -> dict[str, float]:
    repo = W / "dvc-repo"
    remove(repo)
    repo.mkdir(parents=True)
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "GIT_AUTHOR_NAME": "b",
           "GIT_AUTHOR_EMAIL": "b@example.com", "GIT_COMMITTER_NAME": "b",
           "GIT_COMMITTER_EMAIL": "b@example.com"}
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True, env=env)
    subprocess.run([dvc, "init", "-q"], cwd=repo, check=True, env=env)
    copy_tree(src, repo / name)
    out: dict[str, float] = {}
    out["start-up (repo list)"] = timed([dvc, "version"], cwd=repo, env=env)
    first_put(out, [dvc, "add", "-q", name], cwd=repo, env=env)
    if FIRST_ONLY:
        remove(repo)
        return out
    out["put (no change)"] = timed([dvc, "add", "-q", name], cwd=repo, env=env)
    modify(gen, repo / name, nmod)
    out["put (1% changed)"] = timed([dvc, "add", "-q", name], cwd=repo, env=env)
    remove(repo / name)
    out["get (empty folder)"] = timed([dvc, "checkout", "-q", f"{name}.dvc"], cwd=repo, env=env)
    assert count_files(repo / name) == count_files(src), "dvc checkout file count differs"
    remove(repo)
    return out


def main() -> None:
    gen = gen_module()
    W.mkdir(parents=True, exist_ok=True)
    dvc = dvc_path()
    results: dict[str, Any] = {"scale": SCALE, "datasets": {}}
    only = os.environ.get("FLOWYARD_BENCH_ONLY")   # "D1" or "D2"
    runs = int(os.environ.get("FLOWYARD_BENCH_RUNS", "1"))
    base = os.environ.get("FLOWYARD_BENCH_BASE")
    results["runs"] = runs
    for name, make, files in (("D1", gen.gen_d1, gen.D1_FILES), ("D2", gen.gen_d2, gen.D2_FILES)):
        if only and name != only:
            continue
        src = W / "src" / f"{name}-{SCALE:g}"
        if not src.exists():
            make(str(src))
        nmod = max(1, files // 100)
        every: dict[str, list[dict[str, float]]] = {}
        cps = []
        for i in range(runs):
            cp_dst = W / "cp"
            remove(cp_dst)
            cps.append(timed(["cp", "-r", str(src), str(cp_dst)]))
            remove(cp_dst)
            # Alternate which tool goes first, so neither always gets the quieter moment.
            order = ["flowyard", *(["flowyard (base)"] if base else []), *(["dvc"] if dvc else [])]
            for tool in order if i % 2 == 0 else order[::-1]:
                if tool == "dvc":
                    assert dvc is not None
                    times = bench_dvc(gen, dvc, name, src, nmod)
                else:
                    times = bench_flowyard(gen, name, src, nmod, base if "base" in tool else None)
                every.setdefault(tool, []).append(times)
                print(f"{name} run {i + 1} {tool}: {times}", file=sys.stderr)
        entry: dict[str, Any] = {"files": count_files(src), "cp -r": statistics.median(cps),
                                 "all": every}
        for tool, rows in every.items():
            entry[tool] = {op: statistics.median(r[op] for r in rows) for op in rows[0]}
        results["datasets"][name] = entry
        print(f"{name} done", file=sys.stderr)
    (W / "results.json").write_text(json.dumps(results, indent=2))
    text = report(results)
    out = REPO_ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out / f"data-{stamp}.json").write_text(json.dumps(results, indent=2))
    (out / f"data-{stamp}.md").write_text(text + "\n")
    print(text)


def report(results: dict[str, Any]) -> str:
    runs = results.get("runs", 1)
    lines = [f"scale {results['scale']:g}; seconds, whole processes"
             + (f"; medians of {runs} runs" if runs > 1 else "") + "; ratios side by side", ""]
    head = "| data | operation | flowyard s | cp -r s | flowyard / cp | dvc s | dvc / flowyard |"
    sep = "|---|---|---|---|---|---|---|"
    has_base = any("flowyard (base)" in d for d in results["datasets"].values())
    if has_base:
        head += " base s | dvc / base | base / flowyard |"
        sep += "---|---|---|"
    lines += [head, sep]
    for name, d in results["datasets"].items():
        for op, fy in d["flowyard"].items():
            cp = d["cp -r"] if op in ("put (first)", "get (empty folder)") else None
            dv = d.get("dvc", {}).get(op)
            if op.endswith(", load"):  # context, not a time: no ratios
                dv_text = f"{dv:.1f}" if dv is not None else "-"
                bs_text = f"{d.get('flowyard (base)', {}).get(op, 0):.1f}" if has_base else ""
                lines.append(f"| {name} ({d['files']} files) | {op} | {fy:.1f} | - | - | "
                             f"{dv_text} | - |" + (f" {bs_text} | - | - |" if has_base else ""))
                continue
            line = (
                f"| {name} ({d['files']} files) | {op} | {fy:.2f} | "
                + (f"{cp:.2f} | {fy / cp:.2f}x" if cp else "- | -")
                + (f" | {dv:.2f} | {dv / fy:.1f}x |" if dv else " | - | - |")
            )
            if has_base:
                bs = d.get("flowyard (base)", {}).get(op)
                line += (f" {bs:.2f} | " + (f"{dv / bs:.1f}x" if dv else "-")
                         + f" | {bs / fy:.2f}x |" if bs else " - | - | - |")
            lines.append(line)
        if runs > 1:
            ratios = [dv["put (first)"] / fy["put (first)"]
                      for fy, dv in zip(d["all"]["flowyard"], d["all"].get("dvc", []),
                                        strict=False)]
            if ratios:
                lines.append(f"\n{name} first put, dvc / flowyard per run: "
                             + ", ".join(f"{r:.1f}x" for r in ratios))
            cpu = [dv["put (first), CPU s"] / fy["put (first), CPU s"]
                   for fy, dv in zip(d["all"]["flowyard"], d["all"].get("dvc", []),
                                     strict=False)]
            if cpu:
                lines.append(f"{name} first put, dvc / flowyard CPU time per run: "
                             + ", ".join(f"{r:.1f}x" for r in cpu))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
