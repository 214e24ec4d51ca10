"""`flowyard serve GRAPH.yaml [--port 8080] [--workers N]`: serve an InferenceGraph here."""

from __future__ import annotations

import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from flowyard.resources.inference_graph import InferenceGraph

GraphFile = Annotated[Path, typer.Argument(help="An InferenceGraph file (YAML or JSON).",
                                           show_default=False, metavar="GRAPH.yaml")]


def serve_command(
    graph_file: GraphFile,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", min=1, max=65535,
                                      help="HTTP port (V2 and Seldon REST, metrics).")] = 8080,
    grpc_port: Annotated[int | None, typer.Option(
        "--grpc-port", min=1, max=65535,
        help="Also serve V2 over gRPC on this port (needs the grpc extra).")] = None,
    workers: Annotated[int, typer.Option("--workers", "-w", min=1,
                                         help="Worker processes sharing the port.")] = 1,
    state_dir: Annotated[Path | None, typer.Option(
        "--state-dir", help="Router state folder (default: $FLOWYARD_HOME/serving/state).",
        show_default=False)] = None,
    cache_dir: Annotated[Path | None, typer.Option(
        "--cache-dir", help="Downloaded models (default: $FLOWYARD_HOME/serving/cache).",
        show_default=False)] = None,
    max_request_bytes: Annotated[int, typer.Option(
        "--max-request-bytes", min=1, help="Larger request bodies get 413.")] = 16 * 1024 * 1024,
    log_level: Annotated[str, typer.Option("--log-level",
                                           help="uvicorn log level.")] = "warning",
) -> None:
    """Serve an InferenceGraph (V2 REST/gRPC, Seldon v1) in the foreground; Ctrl-C stops."""
    from flowyard.serving.config import load_graph
    from flowyard.serving.server import serve

    graph = load_graph(graph_file)
    check_port_free(host, port, "--port")
    if grpc_port is not None:
        if grpc_port == port:
            from flowyard.errors import InvalidInput

            raise InvalidInput(f"--grpc-port {grpc_port} is the same as --port",
                               hint="pick two different ports")
        check_port_free(host, grpc_port, "--grpc-port")
    _announce(graph, host, port, grpc_port, workers)
    threading.Thread(target=_report_ready, args=(_local_host(host), port, time.monotonic()),
                     name="flowyard-serve-ready", daemon=True).start()
    # uvicorn shuts down gracefully on SIGINT/SIGTERM, then restores the previous handlers
    # and raises the signal again; this handler turns that SIGTERM into a normal return.
    previous = signal.signal(signal.SIGTERM, _stopped)
    try:
        serve(graph, host, port, workers, base_dir=graph_file.resolve().parent,
              state_dir=state_dir, cache_dir=cache_dir, max_request_bytes=max_request_bytes,
              log_level=log_level, grpc_port=grpc_port)
    except (KeyboardInterrupt, _Stopped):
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    sys.stderr.write("stopped\n")


class _Stopped(Exception):
    """SIGTERM after uvicorn's graceful shutdown."""


def _stopped(signum: int, frame: FrameType | None) -> None:
    raise _Stopped


def check_port_free(host: str, port: int, option: str) -> None:
    """A clear error before uvicorn starts, instead of its log line and exit 1."""
    import socket

    from flowyard.errors import Conflict, InvalidInput

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise InvalidInput(f"--host {host!r} is not an address of this machine: {exc}",
                           hint="use 127.0.0.1 (this machine only) or 0.0.0.0 (all)") from exc
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # The same option uvicorn sets, so a port in TIME_WAIT is not reported as busy.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            raise Conflict(f"{option} {port}: port {port} on {host} is already in use "
                           f"({exc.strerror or exc})",
                           hint=f"pick another port ({option} N) or stop the process "
                                f"listening on it (ss -ltnp 'sport = :{port}')") from exc


def _local_host(host: str) -> str:
    return {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _announce(graph: InferenceGraph, host: str, port: int, grpc_port: int | None,
              workers: int) -> None:
    base = f"http://{_url_host(_local_host(host))}:{port}"
    predictors = ", ".join(
        f"{p.name} (shadow)" if p.shadow else (f"{p.name} {p.traffic}%" if p.traffic
                                               else p.name)
        for p in graph.spec.predictors)
    lines = [
        f"Serving InferenceGraph {graph.name!r} on {host}:{port} "
        f"({workers} worker{'s' if workers > 1 else ''}); predictors: {predictors}",
        f"  V2 REST    {base}/v2/models/{graph.name}/infer",
        f"  Seldon v1  {base}/api/v1.0/predictions",
    ]
    if grpc_port is not None:
        lines.append(f"  V2 gRPC    {_url_host(_local_host(host))}:{grpc_port}")
    lines += [f"  health     {base}/v2/health/ready    metrics {base}/metrics",
              f"  try:       flowyard predict {base} {graph.name} --data '[[...]]'",
              "Models are loading; Ctrl-C stops the server."]
    sys.stderr.write("\n".join(lines) + "\n")
    sys.stderr.flush()


def _report_ready(host: str, port: int, started: float) -> None:
    """Say once when the server is ready, or why a model failed to load."""
    import json
    import urllib.error
    import urllib.request

    url = f"http://{_url_host(host)}:{port}/v2/health/ready"
    while True:
        time.sleep(0.05)
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    sys.stderr.write(f"ready in {time.monotonic() - started:.1f} s\n")
                    sys.stderr.flush()
                    return
        except urllib.error.HTTPError as exc:
            try:
                reason = str(json.loads(exc.read()).get("reason", ""))
            except ValueError:
                reason = ""
            if reason and reason != "models are still loading":
                sys.stderr.write(f"NOT READY: {reason}\n  (other predictors and nodes still "
                                 "serve; POST /v2/repository/index lists each model)\n")
                sys.stderr.flush()
                return
        except (OSError, ValueError):
            continue  # not listening yet
