"""Latency the gateway adds: the same requests sent straight to a loopback upstream, through
the Flowyard gateway, and through nginx (the reference proxy, when installed).

Requests are interleaved one by one (direct, gateway, nginx, in a shuffled order each
round) over persistent connections, so a burst of load from other jobs on the shared cores
hits all three alike. Reported per workload: p50/p95/p99 of each path, and the added latency
(p50 through the proxy minus p50 direct, and the median of the per-round differences).

    python benchmarks/gateway/bench.py                 # 3,000 rounds per workload
    python benchmarks/gateway/bench.py --rounds 10000 --no-nginx

The gateway runs as the platform serves it: uvicorn (httptools, uvloop), AuthMiddleware
checking a bearer token (cached 2 s), the route table, role check, the pooled upstream
connections of upstream.py.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent / "results"
PATH = "/serving/default/bench/v2/models/m/infer"
NGINX_CONF = """worker_processes 1;
daemon off;
error_log {dir}/error.log warn;
pid {dir}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path {dir}/body; proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fcgi; uwsgi_temp_path {dir}/uwsgi; scgi_temp_path {dir}/scgi;
  map $http_upgrade $connection_upgrade {{ default upgrade; '' ''; }}
  upstream up {{ server 127.0.0.1:{upstream}; keepalive 16; }}
  server {{
    listen 127.0.0.1:{port};
    location /serving/default/bench/ {{
      proxy_pass http://up/;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Authorization "";
      proxy_request_buffering off;
      proxy_buffering off;
    }}
  }}
}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"port {port} did not open")


class Http:
    """One keep-alive HTTP/1.1 connection; requests are prebuilt bytes."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def roundtrip(self, request: bytes) -> bytes:
        self.sock.sendall(request)
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += self._recv()
        head, _, body = buf.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        lower = head.lower()
        if b"content-length:" in lower:
            length = int(lower.split(b"content-length:")[1].split(b"\r\n")[0])
            while len(body) < length:
                body += self._recv()
        else:
            while not body.endswith(b"0\r\n\r\n"):
                body += self._recv()
        if status != 200:
            raise RuntimeError(f"HTTP {status}: {body[:300]!r}")
        return body

    def _recv(self) -> bytes:
        data = self.sock.recv(1 << 16)
        if not data:
            raise ConnectionError("server closed the connection")
        return data


def http_request(method: str, path: str, token: str, body: bytes) -> bytes:
    head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n")
    if body or method == "POST":
        head += f"Content-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process and its children, from /proc."""
    pids = [pid]
    with contextlib.suppress(OSError):
        pids += [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    total = 0
    for each in pids:
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "mean": statistics.fmean(values)}


def interleave(calls: dict[str, Callable[[], object]], rounds: int, warmup: int,
               pids: dict[str, int]) -> dict[str, list[float]]:
    """Latency samples per path; "cpu:<name>" holds the proxy's CPU us per request."""
    out: dict[str, list[float]] = {name: [] for name in calls}
    names = list(calls)
    rng = random.Random(0)
    cpu: dict[str, float] = {}
    for i in range(warmup + rounds):
        if i == warmup:
            cpu = {name: tree_cpu(pid) for name, pid in pids.items()}
        rng.shuffle(names)
        for name in names:
            start = time.perf_counter()
            calls[name]()
            took = (time.perf_counter() - start) * 1e6
            if i >= warmup:
                out[name].append(took)
    for name, pid in pids.items():
        out[f"cpu:{name}"] = [(tree_cpu(pid) - cpu[name]) / rounds * 1e6]
    return out


def summarize(workload: str, samples: dict[str, list[float]]) -> dict[str, Any]:
    direct = samples["direct"]
    row: dict[str, Any] = {"workload": workload, "rounds": len(direct)}
    for name, values in samples.items():
        if name.startswith("cpu:"):
            row[name] = values[0]
            continue
        row[name] = percentiles(values)
        if name != "direct":
            row[f"{name}_added_p50"] = row[name]["p50"] - row["direct"]["p50"]
            row[f"{name}_added_p99"] = row[name]["p99"] - row["direct"]["p99"]
            row[f"{name}_added_paired"] = statistics.median(
                v - d for v, d in zip(values, direct, strict=True))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--no-nginx", action="store_true")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="flowyard-gateway-bench-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        up_port, gw_port, ng_port = free_port(), free_port(), free_port()
        log = open(work / "servers.log", "ab")  # noqa: SIM115 - handed to the children
        upstream = subprocess.Popen([sys.executable, str(HERE / "upstream.py"), str(up_port)],
                                    stdout=log, stderr=log)
        procs.append(upstream)
        env = {**os.environ, "FLOWYARD_HOME": str(work / "home")}
        for key in ("FLOWYARD_DATABASE_URL", "FLOWYARD_OBJECT_STORE_URL", "FLOWYARD_SERVER"):
            env.pop(key, None)
        gateway = subprocess.Popen([sys.executable, str(HERE / "gateway_server.py"),
                                    str(gw_port), str(up_port)], env=env, stdout=log,
                                   stderr=log)
        procs.append(gateway)
        px_port = free_port()
        env_px = {**env, "FLOWYARD_HOME": str(work / "home-proxy-only")}
        proxy_only = subprocess.Popen([sys.executable, str(HERE / "gateway_server.py"),
                                       str(px_port), str(up_port), "proxy-only"], env=env_px,
                                      stdout=log, stderr=log)
        procs.append(proxy_only)
        nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists()
                                          else None)
        use_nginx = nginx is not None and not args.no_nginx
        if use_nginx:
            (work / "nginx").mkdir()
            conf = work / "nginx" / "nginx.conf"
            conf.write_text(NGINX_CONF.format(dir=work / "nginx", upstream=up_port,
                                              port=ng_port))
            procs.append(subprocess.Popen([str(nginx), "-p", str(work / "nginx"), "-c",
                                           str(conf)], stdout=log, stderr=log))
        wait_port(up_port, upstream)
        wait_port(gw_port, gateway)
        wait_port(px_port, proxy_only)
        if use_nginx:
            wait_port(ng_port, procs[-1])
        token = (work / "home" / "bench-token").read_text().strip()

        ports = {"direct": up_port, "flowyard": gw_port, "proxy-only": px_port}
        pids = {"flowyard": gateway.pid, "proxy-only": proxy_only.pid}
        if use_nginx:
            ports["nginx"] = ng_port
            pids["nginx"] = procs[-1].pid
        paths = {"direct": "/v2/models/m/infer", "flowyard": PATH, "nginx": PATH,
                 "proxy-only": PATH}
        rows = []
        for workload, method, body in (("GET, no body", "GET", b""),
                                       ("POST, 1 KiB JSON", "POST", b'{"x": "' + b"a" * 1014
                                        + b'"}'),
                                       ("POST, 256 KiB", "POST", b"b" * (256 << 10))):
            conns = {name: Http(port) for name, port in ports.items()}
            requests = {name: http_request(method, paths[name], token, body) for name in ports}
            calls: dict[str, Callable[[], object]] = {
                name: (lambda c=conns[name], r=requests[name]: c.roundtrip(r))
                for name in ports}
            rows.append(summarize(workload, interleave(calls, args.rounds, args.warmup,
                                                       pids)))
            print(_line(rows[-1]), flush=True)

        from websockets.sync.client import connect

        stack = contextlib.ExitStack()
        sockets = {name: stack.enter_context(connect(
            f"ws://127.0.0.1:{port}{paths[name]}", compression=None,
            additional_headers={"Authorization": f"Bearer {token}"}))
            for name, port in ports.items()}
        message = "x" * 64

        def echo(ws: Any) -> None:
            ws.send(message)
            assert ws.recv() == message

        calls = {name: (lambda ws=ws: echo(ws)) for name, ws in sockets.items()}
        rows.append(summarize("websocket echo, 64 B", interleave(calls, args.rounds,
                                                                args.warmup, pids)))
        print(_line(rows[-1]), flush=True)
        stack.close()
        report(rows, args, use_nginx)
    finally:
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(work, ignore_errors=True)


def _line(row: dict[str, Any]) -> str:
    text = (f"{row['workload']}: flowyard cpu {row['cpu:flowyard']:.0f} us/req, "
            f"direct p50 {row['direct']['p50']:.0f} us, "
            f"flowyard p50 {row['flowyard']['p50']:.0f} us "
            f"(+{row['flowyard_added_p50']:.0f} us, paired +{row['flowyard_added_paired']:.0f}; "
            f"p99 {row['flowyard']['p99']:.0f} us, +{row['flowyard_added_p99']:.0f})")
    text += (f", proxy-only +{row['proxy-only_added_paired']:.0f} us "
             f"(p99 +{row['proxy-only_added_p99']:.0f}) "
             f"(cpu {row['cpu:proxy-only']:.0f} us/req)")
    if "nginx" in row:
        text += (f", nginx p50 {row['nginx']['p50']:.0f} us "
                 f"(+{row['nginx_added_p50']:.0f} us, paired +{row['nginx_added_paired']:.0f})")
    return text


def report(rows: list[dict[str, Any]], args: argparse.Namespace, nginx: bool) -> None:
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    load = os.getloadavg()[0]
    lines = [f"# Gateway latency, {stamp} UTC", "",
             f"{args.rounds} interleaved rounds per workload (+{args.warmup} warm-up), "
             f"load1 {load:.2f} at the end, Python {sys.version.split()[0]}.", "",
             "| workload | direct p50 / p95 / p99 (us) | flowyard p50 / p95 / p99 | "
             "flowyard added p50 (paired) | gateway without login: added p50 (paired) | "
             "nginx p50 / p95 / p99 | nginx added p50 (paired) | added, flowyard / nginx | "
             "proxy CPU per request, flowyard / without login / nginx |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        d, f = row["direct"], row["flowyard"]
        cells = [row["workload"], f"{d['p50']:.0f} / {d['p95']:.0f} / {d['p99']:.0f}",
                 f"{f['p50']:.0f} / {f['p95']:.0f} / {f['p99']:.0f}",
                 f"{row['flowyard_added_p50']:.0f} ({row['flowyard_added_paired']:.0f})",
                 f"{row['proxy-only_added_p50']:.0f} ({row['proxy-only_added_paired']:.0f})"]
        if nginx:
            n = row["nginx"]
            ratio = row["flowyard_added_paired"] / max(row["nginx_added_paired"], 1.0)
            cells += [f"{n['p50']:.0f} / {n['p95']:.0f} / {n['p99']:.0f}",
                      f"{row['nginx_added_p50']:.0f} ({row['nginx_added_paired']:.0f})",
                      f"{ratio:.1f}x",
                      f"{row['cpu:flowyard']:.0f} / {row['cpu:proxy-only']:.0f} / "
                      f"{row['cpu:nginx']:.0f} us"]
        else:
            cells += ["-", "-", "-", f"{row['cpu:flowyard']:.0f} / "
                                     f"{row['cpu:proxy-only']:.0f} us / -"]
        lines.append("| " + " | ".join(cells) + " |")
    worst = max(row["flowyard_added_paired"] for row in rows[:2])
    proxy = max(row["proxy-only_added_paired"] for row in rows[:2])
    lines += ["", f"Target (gateway adds < 1 ms p50, small requests): "
                  f"{'PASS' if worst < 1000 else 'MISS'} ({worst:.0f} us with the login check; "
                  f"{proxy:.0f} us for the proxying alone)"]
    text = "\n".join(lines) + "\n"
    (RESULTS / f"gateway-{stamp}.md").write_text(text)
    with open(RESULTS / "gateway.jsonl", "a") as out:
        out.write(json.dumps({"stamp": stamp, "load1": load, "rows": rows}) + "\n")
    print(text)


if __name__ == "__main__":
    main()
