"""Soak: a bounded load at 64 connections against `flowyard serve` of the iris model.

    python benchmarks/serving/soak.py                    # 5 minutes, c=64
    python benchmarks/serving/soak.py --duration 60 --batching

wrk drives V2 REST infer on 127.0.0.1 for `--duration` seconds while the server's resident
memory is sampled every `--interval` seconds. Exits non-zero on any error (socket errors,
non-2xx answers, the server dying or not ready at the end) or when memory grows by more than
`--max-growth` between the first samples after warm-up and the last ones. Prints a summary
and writes it to benchmarks/results/serving-soak-*.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import (  # the sibling script: same model, payload and helpers as the benchmark
    LUA,
    RESULTS,
    Server,
    ensure_wrk,
    free_port,
    log,
    start,
    stop,
    train,
    tree_rss_mb,
)


def parse_wrk(out: str) -> dict[str, Any]:
    import re

    def ms(label: str) -> float:
        m = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}
        return float(m.group(1)) * scale[m.group(2)] if m else float("nan")

    total = re.search(r"(\d+) requests in", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    socket_errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"requests": int(total.group(1)) if total else 0,
            "rps": float(rps.group(1)) if rps else 0.0,
            "p50_ms": ms("50%"), "p99_ms": ms("99%"),
            "socket_errors": socket_errors, "non2xx": int(non2xx.group(1)) if non2xx else 0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of load")
    parser.add_argument("--conns", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between samples")
    parser.add_argument("--warmup", type=float, default=30.0,
                        help="seconds of load before the memory baseline is taken")
    parser.add_argument("--max-growth", type=float, default=0.10,
                        help="allowed RSS growth after warm-up (0.10 = 10%%)")
    parser.add_argument("--batching", action="store_true",
                        help="serve with adaptive batching (maxBatchSize 64, maxLatencyMs 0)")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) /
                        "flowyard-serving-soak")
    args = parser.parse_args()
    if args.duration < args.warmup + 3 * args.interval:
        parser.error("--duration must leave at least three samples after --warmup")

    wrk = ensure_wrk()
    args.work.mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix="soak-", dir=args.work))
    model = run_dir / "model.joblib"
    train(model)
    node: dict[str, Any] = {"name": "iris-lr", "implementation": "SKLEARN_SERVER",
                            "modelUri": str(model)}
    if args.batching:
        node["batching"] = {"maxBatchSize": 64, "maxLatencyMs": 0}
    graph = run_dir / "iris.json"
    graph.write_text(json.dumps({
        "apiVersion": "flowyard.dev/v1alpha1", "kind": "InferenceGraph",
        "metadata": {"name": "iris"},
        "spec": {"predictors": [{"name": "main", "graph": node}]}}))
    lua = run_dir / "v2_infer.lua"
    lua.write_text(LUA)
    port = free_port()
    flowyard = str(Path(sys.executable).parent / "flowyard")
    server = Server("Flowyard" + ("+batching" if args.batching else ""),
                    [flowyard, "serve", str(graph), "--port", str(port),
                     "--state-dir", str(run_dir / "state")],
                    {"FLOWYARD_HOME": str(run_dir / "home")}, port, run_dir)

    samples: list[tuple[float, float]] = []  # (seconds into the load, RSS MB)
    problems: list[str] = []
    start(server)
    assert server.proc is not None
    try:
        cmd = [wrk, f"-t{args.threads}", f"-c{args.conns}", f"-d{round(args.duration)}s",
               "--latency", "-s", str(lua), f"{server.url}/v2/models/iris/infer"]
        log(f"soak: {' '.join(cmd[1:4])} for {args.duration:g} s; RSS every "
            f"{args.interval:g} s")
        began = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        while proc.poll() is None:
            time.sleep(args.interval)
            if server.proc.poll() is not None:
                problems.append(f"the server exited with {server.proc.returncode} during "
                                "the load")
                break
            at, rss = time.monotonic() - began, tree_rss_mb(server.proc.pid)
            if proc.poll() is None:
                samples.append((at, rss))
                log(f"  t={at:6.1f} s  rss {rss:.1f} MB")
        out, _ = proc.communicate()
        result = parse_wrk(out)
        if result["requests"] == 0:
            problems.append(f"cannot read wrk's output:\n{out}")
        try:
            with urllib.request.urlopen(f"{server.url}/v2/health/ready", timeout=5) as resp:
                if resp.status != 200:
                    problems.append(f"not ready after the load: HTTP {resp.status}")
        except OSError as exc:
            problems.append(f"not ready after the load: {exc}")
    finally:
        stop(server)

    after = [rss for at, rss in samples if at >= args.warmup]
    baseline = statistics.mean(after[:3]) if len(after) >= 3 else float("nan")
    final = statistics.mean(after[-3:]) if len(after) >= 3 else float("nan")
    growth = final / baseline - 1 if after else float("nan")
    if result.get("socket_errors"):
        problems.append(f"{result['socket_errors']} socket errors (connect/read/write/timeout)")
    if result.get("non2xx"):
        problems.append(f"{result['non2xx']} non-2xx answers")
    if len(after) < 3:
        problems.append(f"only {len(after)} memory samples after warm-up")
    elif growth > args.max_growth:
        problems.append(f"RSS grew {growth:.1%} after warm-up ({baseline:.1f} -> {final:.1f} "
                        f"MB), over the {args.max_growth:.0%} limit")
    verdict = "FAIL" if problems else "PASS"
    lines = [f"# Serving soak: {server.name}, {args.conns} connections, {args.duration:g} s "
             f"({datetime.now(UTC):%Y-%m-%d %H:%M} UTC): **{verdict}**", "",
             f"- requests: {result.get('requests', 0):,} ({result.get('rps', 0):,.0f} req/s), "
             f"p50 {result.get('p50_ms', float('nan')):.2f} ms, "
             f"p99 {result.get('p99_ms', float('nan')):.2f} ms",
             f"- errors: {result.get('socket_errors', 0)} socket, "
             f"{result.get('non2xx', 0)} non-2xx",
             f"- RSS: idle {server.rss_idle_mb:.1f} MB; after {args.warmup:g} s warm-up "
             f"{baseline:.1f} MB, at the end {final:.1f} MB ({growth:+.1%}, limit "
             f"{args.max_growth:.0%}); max {max((r for _, r in samples), default=0):.1f} MB "
             f"over {len(samples)} samples",
             f"- start-up to model ready: {server.startup_s:.2f} s"]
    lines += [f"- problem: {p}" for p in problems]
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"serving-soak-{stamp}.md").write_text(text)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
