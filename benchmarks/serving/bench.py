"""Flowyard serving vs MLServer: the same iris model, V2 REST infer, wrk on loopback.

    python benchmarks/serving/bench.py                      # 15 s per point, c=1,16,64
    python benchmarks/serving/bench.py --duration 5 --conns 16,64 --batching --graph
    python benchmarks/serving/bench.py --batching --graph --rounds 3   # 3 x 5 s, interleaved

Both servers run side by side (each on its own free port) and are loaded in turn, MLServer
first, at each connection count. MLServer 1.7.1 runs from its own venv under --work (made on
first use, with uvloop pinned to 0.21.0: newer uvloop breaks its parallel inference
workers), with its default `parallel_workers: 1`; Flowyard runs `flowyard serve` with one
worker. Prints a markdown report and writes it (and JSON) to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent / "results"
MLSERVER = ["mlserver==1.7.1", "mlserver-sklearn==1.7.1", "scikit-learn==1.9.1", "joblib",
            "uvloop==0.21.0"]
BODY = ('{"inputs":[{"name":"predict","shape":[1,4],"datatype":"FP64",'
        '"data":[5.1,3.5,1.4,0.2]}]}')
GRAPH_NAME = "Flowyard 3-node graph"
STEPS = ("class Passthrough:\n"
         "    def transform_input(self, X, names):\n"
         "        return X\n")
LUA = ('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
       f"wrk.body = '{BODY}'\n")


@dataclass
class Point:
    conns: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    rss_mb: float


@dataclass
class Server:
    name: str
    cmd: list[str]
    env: dict[str, str]
    port: int
    cwd: Path
    proc: subprocess.Popen[bytes] | None = None
    startup_s: float = 0.0
    rss_idle_mb: float = 0.0
    points: list[Point] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    log("wrk is missing: apt-get install -y wrk")
    subprocess.run(["apt-get", "install", "-y", "wrk"], check=True)
    return shutil.which("wrk") or sys.exit("wrk is still missing")


def ensure_mlserver(work: Path) -> Path:
    venv = work / "mlserver-venv"
    exe = venv / "bin" / "mlserver"
    if not exe.exists():
        log(f"creating {venv} ({' '.join(MLSERVER)}); takes a few minutes")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", *MLSERVER], check=True)
    return exe


def train(path: Path) -> None:
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True)
    joblib.dump(LogisticRegression(max_iter=1000, random_state=0).fit(X, y), path)


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants."""
    pids, total = [pid], 0
    while pids:
        current = pids.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
        total += int(match.group(1)) if match else 0
        pids.extend(int(c) for c in children)
    return total / 1024


def start(server: Server, timeout: float = 90.0) -> None:
    logfile = (server.cwd / f"{server.name.replace(' ', '-')}.log").open("w")
    began = time.monotonic()
    server.proc = subprocess.Popen(server.cmd, cwd=server.cwd, env={**os.environ, **server.env},
                                   stdout=logfile, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    ready = f"{server.url}/v2/models/iris/ready"
    while time.monotonic() - began < timeout:
        if server.proc.poll() is not None:
            raise SystemExit(f"{server.name} exited: see {logfile.name}")
        try:
            with urllib.request.urlopen(ready, timeout=1) as resp:
                if resp.status == 200:
                    server.startup_s = time.monotonic() - began
                    break
        except (OSError, urllib.error.HTTPError):
            pass
        time.sleep(0.02)
    else:
        stop(server)
        raise SystemExit(f"{server.name} not ready after {timeout} s: see {logfile.name}")
    request = urllib.request.Request(f"{server.url}/v2/models/iris/infer", data=BODY.encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as resp:
        answer = json.loads(resp.read())
    log(f"{server.name} ready in {server.startup_s:.2f} s; sample answer "
        f"{answer['outputs'][0]['data']}")
    time.sleep(1.0)
    server.rss_idle_mb = tree_rss_mb(server.proc.pid)


def stop(server: Server) -> None:
    if server.proc is None or server.proc.poll() is not None:
        return
    os.killpg(server.proc.pid, signal.SIGINT)  # the whole group: MLServer's workers too
    try:
        server.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(server.proc.pid, signal.SIGKILL)
        server.proc.wait()


_UNIT_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}


def _ms(text: str, label: str) -> float:
    match = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)
    return float(match.group(1)) * _UNIT_MS[match.group(2)] if match else float("nan")


def load(wrk: str, server: Server, conns: int, seconds: float, threads: int,
         lua: Path) -> Point:
    assert server.proc is not None
    cmd = [wrk, f"-t{min(threads, conns)}", f"-c{conns}", f"-d{max(1, round(seconds))}s",
           "--latency", "-s", str(lua), f"{server.url}/v2/models/iris/infer"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(seconds / 2)
    rss = tree_rss_mb(server.proc.pid)
    out, _ = proc.communicate()
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if rps is None:
        log(f"cannot read wrk's output:\n{out}")
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors += int(non2xx.group(1)) if non2xx else 0
    point = Point(conns, float(rps.group(1)) if rps else 0.0, _ms(out, "50%"), _ms(out, "99%"),
                  errors, rss)
    log(f"  {server.name:<22} c={conns:<3} {point.rps:>9.0f} req/s  p50 {point.p50_ms:.2f} ms"
        f"  p99 {point.p99_ms:.2f} ms  errors {errors}  rss {rss:.0f} MB")
    return point


def combine(points: list[Point]) -> Point:
    """One figure from interleaved rounds: mean req/s, median latencies, all errors."""
    if len(points) == 1:
        return points[0]
    return Point(points[0].conns, statistics.mean(p.rps for p in points),
                 statistics.median(p.p50_ms for p in points),
                 statistics.median(p.p99_ms for p in points), sum(p.errors for p in points),
                 max(p.rss_mb for p in points))


def report(servers: list[Server], args: argparse.Namespace) -> str:
    peer, ours = servers[0], servers[1:]
    lines = [f"# Serving: Flowyard vs MLServer 1.7.1 ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
             "",
             f"iris LogisticRegression (one joblib file for both), V2 REST infer of one row, "
             f"`wrk -t{args.threads} --latency` on 127.0.0.1, {args.duration:g} s per point"
             + (f" (in {args.rounds} rounds of {args.duration / args.rounds:g} s, servers "
                "interleaved; mean req/s, median p50/p99)" if args.rounds > 1 else "") + ", "
             f"{os.cpu_count()} CPUs shared by servers and wrk. MLServer: parallel_workers=1 "
             "(its default), uvloop 0.21.0. Flowyard: `flowyard serve`, 1 worker.", ""]
    header = "| conns | MLServer req/s | MLServer p99 |"
    rule = "|---|---|---|"
    for s in ours:
        header += f" {s.name} req/s | {s.name} p99 | req/s ratio | p99 ratio |"
        rule += "---|---|---|---|"
    lines += [header, rule]
    for i, base in enumerate(peer.points):
        row = f"| {base.conns} | {base.rps:,.0f} | {base.p99_ms:.2f} ms |"
        for s in ours:
            p = s.points[i]
            row += (f" {p.rps:,.0f} | {p.p99_ms:.2f} ms | **{p.rps / base.rps:.1f}x** |"
                    f" {p.p99_ms / base.p99_ms:.2f} |" if base.rps and base.p99_ms else
                    f" {p.rps:,.0f} | {p.p99_ms:.2f} ms | - | - |")
        lines.append(row)
    lines += ["", "req/s ratio: Flowyard / MLServer (higher is better); p99 ratio: Flowyard / "
              "MLServer (lower is better). Errors (socket errors + non-2xx): " + ", ".join(
                  f"{s.name} {sum(p.errors for p in s.points)}" for s in servers) + ".", "",
              "| server | start-up to model ready | RSS idle | RSS under load (max) |",
              "|---|---|---|---|"]
    for s in servers:
        peak = max((p.rss_mb for p in s.points), default=0.0)
        lines.append(f"| {s.name} | {s.startup_s:.2f} s | {s.rss_idle_mb:.0f} MB | "
                     f"{peak:.0f} MB |")
    lines += ["", "RSS sums the server's process tree (MLServer: main process and its "
              "inference worker)."]
    lines += ["", "## Targets (issue 4)", "", *targets(servers)]
    return "\n".join(lines) + "\n"


def targets(servers: list[Server]) -> list[str]:
    """The issue's speed targets, each with the figure that meets or misses it."""
    by_name = {s.name: s for s in servers}
    peer, plain = by_name["MLServer"], by_name.get("Flowyard")
    out = []

    def ratio_line(s: Server, conns: tuple[int, ...], want: float) -> None:
        for base, p in zip(peer.points, s.points, strict=True):
            if base.conns not in conns or not base.rps:
                continue
            ratio = p.rps / base.rps
            ok = ratio >= want and p.p99_ms < base.p99_ms
            out.append(f"- {s.name} at c={base.conns}: {ratio:.1f}x MLServer's req/s "
                       f"(target >= {want:g}x), p99 {p.p99_ms:.2f} vs {base.p99_ms:.2f} ms: "
                       f"{'met' if ok else 'MISSED'}")

    if plain is not None:
        ratio_line(plain, (16, 64), 4.0)
    if "Flowyard+batching" in by_name:
        ratio_line(by_name["Flowyard+batching"], (64,), 10.0)
    graph = by_name.get(GRAPH_NAME)
    if graph is not None and plain is not None:
        for single, p in zip(plain.points, graph.points, strict=True):
            added = p.p50_ms - single.p50_ms
            out.append(f"- 3-node graph (transformer -> RANDOM_ABTEST router -> model) at "
                       f"c={single.conns}: p50 {p.p50_ms:.2f} ms vs {single.p50_ms:.2f} ms for "
                       f"the model alone, {added:+.2f} ms (target < 0.5 ms): "
                       f"{'met' if added < 0.5 else 'MISSED'}")
    for s in servers[1:]:
        out.append(f"- {s.name} start-up to model ready: {s.startup_s:.2f} s (target < 2 s): "
                   f"{'met' if s.startup_s < 2.0 else 'MISSED'}")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per point")
    parser.add_argument("--conns", default="1,16,64", help="connection counts")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds, not recorded")
    parser.add_argument("--batching", action="store_true",
                        help="also Flowyard with adaptive batching (maxBatchSize 64)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="split each point into N interleaved rounds (evens out load "
                        "from other processes)")
    parser.add_argument("--graph", action="store_true",
                        help="also a 3-node graph: transformer -> router -> the same model")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) /
                        "flowyard-serving-bench", help="MLServer venv and model files")
    args = parser.parse_args()
    conns = [int(c) for c in args.conns.split(",") if c.strip()]

    wrk = ensure_wrk()
    args.work.mkdir(parents=True, exist_ok=True)
    mlserver = ensure_mlserver(args.work)
    run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=args.work))
    repo = run_dir / "mlserver-repo" / "iris"
    repo.mkdir(parents=True)
    train(repo / "model.joblib")
    (repo / "model-settings.json").write_text(json.dumps({
        "name": "iris", "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": "./model.joblib", "version": "v1"}}))
    lua = run_dir / "v2_infer.lua"
    lua.write_text(LUA)

    ml_port = free_port()
    servers = [Server("MLServer", [str(mlserver), "start", str(repo.parent)],
                      {"MLSERVER_HTTP_PORT": str(ml_port),
                       "MLSERVER_GRPC_PORT": str(free_port()),
                       "MLSERVER_METRICS_PORT": str(free_port()),
                       "MLSERVER_PARALLEL_WORKERS": "1"}, ml_port, run_dir)]
    flowyard = str(Path(sys.executable).parent / "flowyard")
    variants: list[tuple[str, dict[str, int] | None]] = [("Flowyard", None)]
    if args.batching:
        variants.append(("Flowyard+batching", {"maxBatchSize": 64, "maxLatencyMs": 0}))
    if args.graph:
        variants.append((GRAPH_NAME, None))
    (run_dir / "steps.py").write_text(STEPS)
    for name, batching in variants:
        node: dict[str, Any] = {"name": "iris-lr", "implementation": "SKLEARN_SERVER",
                                "modelUri": str(repo / "model.joblib")}
        if batching:
            node["batching"] = batching
        if name == GRAPH_NAME:  # the same model behind a transformer and a router
            node = {"name": "pass", "type": "TRANSFORMER", "className": "steps.py:Passthrough",
                    "children": [{"name": "ab", "implementation": "RANDOM_ABTEST",
                                  "parameters": [{"name": "ratioA", "value": "1.0",
                                                  "type": "FLOAT"}],
                                  "children": [node, {**node, "name": "iris-lr-b"}]}]}
        graph = run_dir / f"{name}.json"
        graph.write_text(json.dumps({
            "apiVersion": "flowyard.dev/v1alpha1", "kind": "InferenceGraph",
            "metadata": {"name": "iris"},
            "spec": {"predictors": [{"name": "main", "graph": node}]}}))
        port = free_port()
        servers.append(Server(name, [flowyard, "serve", str(graph), "--port", str(port),
                                     "--state-dir", str(run_dir / "state")],
                              {"FLOWYARD_HOME": str(run_dir / "home")}, port, run_dir))
    try:
        for server in servers:
            start(server)
        for server in servers:
            load(wrk, server, 16, args.warmup, args.threads, lua)
        for c in conns:
            rounds: dict[str, list[Point]] = {s.name: [] for s in servers}
            for _ in range(args.rounds):  # interleaved, so load from elsewhere hits all
                for server in servers:
                    rounds[server.name].append(load(wrk, server, c, args.duration /
                                                    args.rounds, args.threads, lua))
            for server in servers:
                server.points.append(combine(rounds[server.name]))
    finally:
        for server in servers:
            stop(server)
    text = report(servers, args)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"serving-{stamp}.md").write_text(text)
    (RESULTS / f"serving-{stamp}.json").write_text(json.dumps(
        [{"server": s.name, "startup_s": s.startup_s, "rss_idle_mb": s.rss_idle_mb,
          "points": [asdict(p) for p in s.points]} for s in servers], indent=2))
    log(f"report: {RESULTS / f'serving-{stamp}.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
