"""The gateway on a real platform: /serving/<profile>/<graph>/... behind the same login."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
from platform_helpers import DATA, LivePlatform, wait_for

from flowyard.client import Client

API = "/api/v1alpha1"
REQUEST = {"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "data": [1.5, 2.5]}]}


def graph(name: str, namespace: str) -> dict[str, Any]:
    return {"apiVersion": "flowyard.dev/v1alpha1", "kind": "InferenceGraph",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"predictors": [{"name": "main", "graph": {
                "name": "echo", "className": f"{DATA / 'echo.py'}:Echo"}}]}}


def test_gateway_proxies_to_the_graph_of_the_profile(live: LivePlatform) -> None:
    with httpx.Client(base_url=live.url, headers=live.headers, timeout=30) as admin:
        for body in ({"name": "alice"}, {"name": "bob"}):
            admin.post(f"{API}/users", json=body).raise_for_status()
        admin.post(f"{API}/profiles", json={"name": "team-a", "owner": "alice"}
                   ).raise_for_status()
        alice = admin.post(f"{API}/tokens", json={"user": "alice"}).json()["token"]
        bob = admin.post(f"{API}/tokens", json={"user": "bob"}).json()["token"]
    with Client(server=live.url, token=alice) as client:
        client.apply(graph("echo", "team-a"))
        wait_for(lambda: client.get("InferenceGraph", "echo", "team-a").status.get("ready"),
                 60, "graph ready")
    path = "/serving/team-a/echo/v2/models/echo/infer"
    as_alice = {"Authorization": f"Bearer {alice}", "X-Flowyard-User": "bob"}
    answer = httpx.post(f"{live.url}{path}", json=REQUEST, headers=as_alice, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.json()["outputs"][0]["data"] == [1.5, 2.5]
    ready = httpx.get(f"{live.url}/serving/team-a/echo/v2/health/ready", headers=as_alice)
    assert ready.status_code == 200
    # login first; then a role in the profile, or nothing is there at all
    assert httpx.post(f"{live.url}{path}", json=REQUEST).status_code == 401
    hidden = httpx.post(f"{live.url}{path}", json=REQUEST,
                        headers={"Authorization": f"Bearer {bob}"})
    missing = httpx.post(f"{live.url}/serving/team-a/nope/v2/models/echo/infer", json=REQUEST,
                         headers=as_alice)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["error"]["message"] == \
        "InferenceGraph 'echo' not found in namespace 'team-a'"
    assert missing.json()["error"]["message"] == \
        "InferenceGraph 'nope' not found in namespace 'team-a'"
    table = httpx.get(f"{live.url}{API}/gateway/routes", headers=as_alice).json()["items"]
    assert [(r["prefix"], r["ready"]) for r in table] == [(f"{API}/", True),
                                                          ("/serving/team-a/echo/", True)]
    assert [r["kind"] for r in httpx.get(f"{live.url}{API}/gateway/routes", headers={
        "Authorization": f"Bearer {bob}"}).json()["items"]] == ["API"]
    with Client(server=live.url, token=alice) as client:
        client.delete("InferenceGraph", "echo", "team-a")


def test_gateway_streams_the_answer_and_keeps_credentials(tmp_path: Path,
                                                          flowyard_home: Path) -> None:
    """A real uvicorn serving the app in a thread, and an upstream that holds back its second
    chunk: the first must reach the client before the upstream has finished."""
    import uvicorn

    from flowyard.platform import procs
    from flowyard.platform.api import create_app
    from flowyard.platform.controllers.serving import Endpoint
    from flowyard.platform.runtime import Platform
    from flowyard.settings import Settings

    marker = tmp_path / "go"
    upstream_port = procs.free_port()
    upstream = subprocess.Popen([sys.executable, str(DATA / "slow_upstream.py"),
                                 str(upstream_port), str(marker)])
    platform = Platform(Settings(), controllers=False)
    token = platform.auth.bootstrap()
    platform.serving.endpoints[("default", "slow")] = Endpoint(
        "default", "slow", 1, upstream_port, upstream, ready=True)
    port = procs.free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(platform), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, 20, "gateway up")

        def upstream_up() -> bool:
            with socket.socket() as probe:
                return probe.connect_ex(("127.0.0.1", upstream_port)) == 0

        wait_for(upstream_up, 20, "upstream up")
        headers = {"Authorization": f"Bearer {token}", "X-Flowyard-User": "mallory"}
        with httpx.Client(timeout=20) as http, http.stream(
                "POST", f"http://127.0.0.1:{port}/serving/default/slow/v2/x?q=1",
                content=b"hello", headers=headers) as answer:
            assert answer.status_code == 200
            assert answer.headers["x-seen-user"] == "admin"
            assert answer.headers["x-seen-auth"] == "-"
            assert answer.headers["x-seen-path"] == "/v2/x?q=1"
            lines = answer.iter_lines()
            assert next(lines) == "first:hello"  # while the upstream still holds the rest
            marker.write_text("go")
            assert next(lines) == "second"
    finally:
        marker.touch()
        server.should_exit = True
        thread.join(20)
        upstream.kill()
        upstream.wait()
