"""Helpers shared by the serving tests (imported by name; fixtures live in conftest.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from flowyard.resources.inference_graph import InferenceGraph
from flowyard.serving import parse_graph
from net_helpers import wait_http

HERE = Path(__file__).parent
COMPONENTS = str(HERE / "components.py")
IRIS_ROW = [5.1, 3.5, 1.4, 0.2]




def graph_of(spec: dict[str, Any], name: str = "g") -> InferenceGraph:
    return parse_graph({"apiVersion": "flowyard.dev/v1alpha1", "kind": "InferenceGraph",
                        "metadata": {"name": name}, "spec": spec})


def single(node: dict[str, Any]) -> dict[str, Any]:
    return {"predictors": [{"name": "main", "graph": node}]}


def py_node(name: str, cls: str, ntype: str = "MODEL", **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": ntype, "className": f"{COMPONENTS}:{cls}", **extra}


class AsgiClient:
    """A synchronous client for an ASGI app in this process (httpx's ASGI transport on one
    persistent event loop, so background tasks such as shadows keep running)."""

    def __init__(self, app: Any) -> None:
        import asyncio

        import httpx

        self.runner = asyncio.Runner()
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                        base_url="http://testserver")

    def request(self, method: str, url: str, **kw: Any) -> Any:
        return self.runner.run(self.client.request(method, url, **kw))

    def get(self, url: str, **kw: Any) -> Any:
        return self.request("GET", url, **kw)

    def post(self, url: str, **kw: Any) -> Any:
        return self.request("POST", url, **kw)

    def close(self) -> None:
        self.runner.run(self.client.aclose())
        self.runner.close()


class LiveServer:
    def __init__(self, url: str, host_port: str, proc: subprocess.Popen[bytes],
                 log: Path) -> None:
        self.url, self.host_port, self.proc, self.log = url, host_port, proc, log
        self.grpc = ""


def start_server(graph: dict[str, Any], folder: Path, port: int, *extra: str) -> LiveServer:
    path = folder / "graph.yaml"
    path.write_text(yaml.safe_dump(graph))
    log = folder / "server.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "flowyard.serving", str(path), "--port", str(port),
         "--state-dir", str(folder / "state"), "--cache-dir", str(folder / "cache"), *extra],
        stdout=subprocess.DEVNULL, stderr=log.open("w"))
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/v2/health/live", timeout=30, ok=lambda r: r.status_code == 200,
                  proc=proc)
    except Exception:
        proc.kill()
        proc.wait()
        raise RuntimeError(f"server did not start: {log.read_text()}") from None
    return LiveServer(url, f"127.0.0.1:{port}", proc, log)


def stop_server(server: LiveServer) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()


