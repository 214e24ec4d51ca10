"""Listing runs through the platform API: 10,000 runs, paged, through a live server.

Creates RUNS runs (default 10,000, spread over a few profiles and pipelines, each with a
realistic pipeline snapshot) straight in a fresh SQLite store, starts
`python -m flowyard.platform` on it, and times `GET /api/v1alpha1/runs?limit=N` pages from a
client on loopback (one persistent connection):

- walk: every page of the listing, following `metadata.continue` (keyset pagination);
- offset: the same pages asked for by `offset=` (the older way; deep pages cost more);
- profile: the walk as a non-admin user of one profile (the per-profile query path);
- filtered: pages of one pipeline's runs in a state.

Each figure is the wall time of one HTTP request (send to last byte, JSON parsed), p50 / p95
/ max over the pages of REPEAT walks. The target (issue 5): a page in under 100 ms.

    python benchmarks/platform/bench_runs_list.py             # 10,000 runs, pages of 100
    python benchmarks/platform/bench_runs_list.py --runs 50000 --limit 500
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent / "results"
API = "/api/v1alpha1"
TARGET_MS = 100.0
PIPELINE = {
    "apiVersion": "flowyard.dev/v1alpha1", "kind": "Pipeline",
    "metadata": {"name": "train", "labels": {"team": "vision"}},
    "spec": {
        "parameters": [{"name": "lr", "type": "FLOAT", "default": 0.01},
                       {"name": "epochs", "type": "INT", "default": 10}],
        "steps": [{"name": f"step-{i}", "component": {
            "name": f"comp-{i}", "image": "python:3.11",
            "command": ["python", "-c", f"print('hello from step {i}')"],
            "inputs": [{"name": "x", "type": "FLOAT"}],
            "outputs": [{"name": "y", "type": "FLOAT"}]},
            "arguments": {"x": "{{inputs.parameters.lr}}"}} for i in range(6)],
    },
}


def seed(home: Path, runs: int, profiles: list[str]) -> None:
    """RUNS rows in one transaction (the store's own insert, batched)."""
    os.environ["FLOWYARD_HOME"] = str(home)
    from flowyard.settings import Settings
    from flowyard.store import schema as t
    from flowyard.store.metadata import MetadataStore
    from flowyard.store.records import RUN_FIELDS, RunRecord

    store = MetadataStore.from_settings(Settings(home=home))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = []
    states = ["Succeeded", "Failed", "Running", "Cancelled"]
    for i in range(runs):
        created = start + timedelta(seconds=i * 7)
        rec = RunRecord(id=f"run-{i:06d}", namespace=profiles[i % len(profiles)],
                        pipeline_name=f"train-{i % 5}", pipeline=PIPELINE,
                        parameters={"lr": 0.01 * (i % 10), "epochs": 10},
                        state=states[i % len(states)], created_at=created,
                        started_at=created, finished_at=created + timedelta(seconds=30),
                        outputs={"accuracy": 0.9}, labels={"batch": str(i % 3)})
        rows.append({name: getattr(rec, name) for name in RUN_FIELDS})
    with store._tx(write=True) as conn:
        conn.execute(t.runs.insert(), rows)
    store.close()


def start_platform(home: Path) -> tuple[subprocess.Popen[bytes], str]:
    state = home / "platform" / "server.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWYARD_")}
    env["FLOWYARD_HOME"] = str(home)
    log = open(home / "platform.log", "ab")  # noqa: SIM115 - kept for the process
    proc = subprocess.Popen([sys.executable, "-m", "flowyard.platform", "--port", "0",
                             "--log-level", "warning"], env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            data = json.loads(state.read_text())
            if data.get("pid") == proc.pid:
                return proc, str(data["url"])
        except (OSError, ValueError):
            pass
        if proc.poll() is not None:
            raise RuntimeError((home / "platform.log").read_text())
        time.sleep(0.05)
    proc.kill()
    raise TimeoutError("platform did not start")


def timed(http: httpx.Client, params: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    t0 = time.perf_counter()
    answer = http.get(f"{API}/runs", params=params)
    answer.raise_for_status()
    body: dict[str, Any] = answer.json()
    return (time.perf_counter() - t0) * 1000.0, body


def walk(http: httpx.Client, params: dict[str, Any]) -> tuple[list[float], int]:
    times, seen = [], 0
    token: str | None = None
    while True:
        ms, body = timed(http, {**params, **({"continue": token} if token else {})})
        times.append(ms)
        seen += len(body["items"])
        token = (body.get("metadata") or {}).get("continue")
        if not token:
            return times, seen


def by_offset(http: httpx.Client, params: dict[str, Any], total: int,
              limit: int) -> list[float]:
    return [timed(http, {**params, "offset": off})[0] for off in range(0, total, limit)]


def summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {"pages": len(times), "p50_ms": statistics.median(ordered),
            "p95_ms": ordered[max(0, int(len(ordered) * 0.95) - 1)], "max_ms": ordered[-1]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="flowyard-bench-runs-"))
    home = tmp / "home"
    profiles = ["default", "team-a", "team-b", "team-c"]
    try:
        t0 = time.perf_counter()
        seed(home, args.runs, profiles)
        seeded = time.perf_counter() - t0
        proc, url = start_platform(home)
        try:
            admin = (home / "platform" / "initial-admin-token").read_text().strip()
            with httpx.Client(base_url=url, timeout=60,
                              headers={"Authorization": f"Bearer {admin}"}) as http:
                http.post(f"{API}/users", json={"name": "ann"}).raise_for_status()
                http.post(f"{API}/profiles", json={"name": "team-a", "owner": "ann"})
                user = http.post(f"{API}/tokens", json={"user": "ann"}).json()["token"]
                base = {"limit": args.limit}
                timed(http, base)  # warm: imports, connection, SQLite page cache
                results: dict[str, dict[str, float]] = {}
                walks: list[float] = []
                counted = 0
                for _ in range(args.repeat):
                    times, counted = walk(http, base)
                    walks += times
                results["walk (admin, all profiles)"] = summary(walks)
                offsets: list[float] = []
                for _ in range(args.repeat):
                    offsets += by_offset(http, base, args.runs, args.limit)
                results["offset= (admin)"] = summary(offsets)
                filt: list[float] = []
                for _ in range(args.repeat):
                    filt += walk(http, {**base, "pipeline": "train-1", "state": "Failed"})[0]
                results["walk pipeline+state filter"] = summary(filt)
            with httpx.Client(base_url=url, timeout=60,
                              headers={"Authorization": f"Bearer {user}"}) as http:
                mine: list[float] = []
                own = 0
                for _ in range(args.repeat):
                    times, own = walk(http, base)
                    mine += times
                results["walk (user of one profile)"] = summary(mine)
        finally:
            proc.terminate()
            proc.wait(15)
        assert counted == args.runs, (counted, args.runs)
        assert own == args.runs // len(profiles), own
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    lines = [f"# Run listing through the API ({stamp})", "",
             f"{args.runs:,} runs (seeded in {seeded:.1f} s), pages of {args.limit}, "
             f"{args.repeat} walks each; load average {os.getloadavg()[0]:.1f}", "",
             "| listing | pages | p50 ms | p95 ms | max ms |", "|---|---|---|---|---|"]
    for name, s in results.items():
        lines.append(f"| {name} | {s['pages']:.0f} | {s['p50_ms']:.1f} | {s['p95_ms']:.1f} "
                     f"| {s['max_ms']:.1f} |")
    worst = max(s["p95_ms"] for s in results.values())
    lines += ["", f"target: a page in < {TARGET_MS:.0f} ms (p95): "
                  f"{'PASS' if worst < TARGET_MS else 'MISS'} (worst p95 {worst:.1f} ms)"]
    report = "\n".join(lines)
    print(report)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"platform-runs-{stamp}.md").write_text(report + "\n")
    with open(RESULTS / "platform-runs.jsonl", "a") as f:
        f.write(json.dumps({"stamp": stamp, "runs": args.runs, "limit": args.limit,
                            "results": results}) + "\n")


if __name__ == "__main__":
    main()
