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
FLOWYARD_BENCH_ONLY=D2 (or D1) runs one data set.
Results: a Markdown table on stdout and in benchmarks/results/data-<time>.{md,json}.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import shutil
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


def timed(cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> float:
    # Write back what earlier steps left dirty (copies of the data), so no tool pays for them.
    os.sync()
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return elapsed


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


def bench_flowyard(gen: ModuleType, name: str, src: Path, nmod: int) -> dict[str, float]:
    home = W / "fy-home"
    shutil.rmtree(home, ignore_errors=True)
    data = W / "fy" / name
    shutil.rmtree(data.parent, ignore_errors=True)
    shutil.copytree(src, data)
    env = {**os.environ, "FLOWYARD_HOME": str(home)}
    for key in ("FLOWYARD_DATABASE_URL", "FLOWYARD_OBJECT_STORE_URL"):
        env.pop(key, None)
    run = [PY, "-c", CLI]
    timed([*run, "repo", "create", "bench"], env=env)
    time.sleep(0.1)  # past the stat cache's racy window, as any real second put would be
    out: dict[str, float] = {}
    # Python start-up and imports, paid by every command (DVC pays its own too).
    out["start-up (repo list)"] = timed([*run, "repo", "list"], env=env)
    out["put (first)"] = timed([*run, "put", "bench@master", str(data)], env=env)
    out["put (no change)"] = timed([*run, "put", "bench@master", str(data)], env=env)
    modify(gen, data, nmod)
    out["put (1% changed)"] = timed([*run, "put", "bench@master", str(data)], env=env)
    dest = W / "fy-get"
    shutil.rmtree(dest, ignore_errors=True)
    out["get (empty folder)"] = timed([*run, "get", "bench@master", str(dest)], env=env)
    assert count_files(dest) == count_files(data), "get wrote the wrong number of files"
    shutil.rmtree(dest)
    shutil.rmtree(data.parent)
    shutil.rmtree(home)
    return out


def bench_dvc(gen: ModuleType, dvc: str, name: str, src: Path, nmod: int) -> dict[str, float]:
    repo = W / "dvc-repo"
    shutil.rmtree(repo, ignore_errors=True)
    repo.mkdir(parents=True)
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "GIT_AUTHOR_NAME": "b",
           "GIT_AUTHOR_EMAIL": "b@example.com", "GIT_COMMITTER_NAME": "b",
           "GIT_COMMITTER_EMAIL": "b@example.com"}
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True, env=env)
    subprocess.run([dvc, "init", "-q"], cwd=repo, check=True, env=env)
    shutil.copytree(src, repo / name)
    out: dict[str, float] = {}
    out["start-up (repo list)"] = timed([dvc, "version"], cwd=repo, env=env)
    out["put (first)"] = timed([dvc, "add", "-q", name], cwd=repo, env=env)
    out["put (no change)"] = timed([dvc, "add", "-q", name], cwd=repo, env=env)
    modify(gen, repo / name, nmod)
    out["put (1% changed)"] = timed([dvc, "add", "-q", name], cwd=repo, env=env)
    shutil.rmtree(repo / name)
    out["get (empty folder)"] = timed([dvc, "checkout", "-q", f"{name}.dvc"], cwd=repo, env=env)
    assert count_files(repo / name) == count_files(src), "dvc checkout file count differs"
    shutil.rmtree(repo)
    return out


def main() -> None:
    gen = gen_module()
    W.mkdir(parents=True, exist_ok=True)
    dvc = dvc_path()
    results: dict[str, Any] = {"scale": SCALE, "datasets": {}}
    only = os.environ.get("FLOWYARD_BENCH_ONLY")   # "D1" or "D2"
    for name, make, files in (("D1", gen.gen_d1, gen.D1_FILES), ("D2", gen.gen_d2, gen.D2_FILES)):
        if only and name != only:
            continue
        src = W / "src" / f"{name}-{SCALE:g}"
        if not src.exists():
            make(str(src))
        nmod = max(1, files // 100)
        cp_dst = W / "cp"
        shutil.rmtree(cp_dst, ignore_errors=True)
        cp = timed(["cp", "-r", str(src), str(cp_dst)])
        shutil.rmtree(cp_dst)
        entry: dict[str, Any] = {"files": count_files(src), "cp -r": cp,
                                 "flowyard": bench_flowyard(gen, name, src, nmod)}
        if dvc:
            entry["dvc"] = bench_dvc(gen, dvc, name, src, nmod)
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
    lines = [f"scale {results['scale']:g}; seconds, whole processes; ratios side by side", ""]
    head = "| data | operation | flowyard s | cp -r s | flowyard / cp | dvc s | dvc / flowyard |"
    lines += [head, "|---|---|---|---|---|---|---|"]
    for name, d in results["datasets"].items():
        for op, fy in d["flowyard"].items():
            cp = d["cp -r"] if op in ("put (first)", "get (empty folder)") else None
            dv = d.get("dvc", {}).get(op)
            lines.append(
                f"| {name} ({d['files']} files) | {op} | {fy:.2f} | "
                + (f"{cp:.2f} | {fy / cp:.2f}x" if cp else "- | -")
                + (f" | {dv:.2f} | {dv / fy:.1f}x |" if dv else " | - | - |")
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
