"""Crash and restart: a SIGKILLed platform resumes its runs and restarts its endpoints;
`flowyard up --detach`, `status` and `down`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from platform_helpers import DATA, admin_token, platform_env, start_platform, wait_for

from flowyard.client import Client


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_sigkill_mid_run_then_restart_resumes(tmp_path: Path) -> None:
    home = tmp_path / "home"
    marker = tmp_path / "open-the-gate"
    graph = {"apiVersion": "flowyard.dev/v1alpha1", "kind": "InferenceGraph",
             "metadata": {"name": "echo"},
             "spec": {"predictors": [{"name": "main", "graph": {
                 "name": "echo", "className": f"{DATA / 'echo.py'}:Echo"}}]}}
    platform = start_platform(home)
    try:
        with Client(server=platform.url, token=platform.token) as client:
            client.apply(graph)
            run = client.run(f"{DATA / 'gated.py'}:gated",
                             {"count": 5, "marker": str(marker)}, wait=False)

            def step_states() -> dict[str, str]:
                return {s.id: s.state for s in client.steps(run.id)}

            wait_for(lambda: step_states() == {"first": "Succeeded", "gate": "Running"},
                     30, "gate running")
            wait_for(lambda: client.get("InferenceGraph", "echo").status.get("ready"),
                     60, "graph ready")
            before = client.get_run(run.id)
            driver_pid = client.transport.get_run(run.id).driver_pid
            endpoint_pid = client.get("InferenceGraph", "echo").status["pid"]
        assert driver_pid is not None and before.state == "Running"
        platform.kill()
        # Its children die with it (parent-death signal): nothing is left driving the run.
        wait_for(lambda: not alive(driver_pid) and not alive(endpoint_pid), 10,
                 "children gone")

        marker.write_text("go")
        platform = start_platform(home)
        with Client(server=platform.url, token=platform.token) as client:
            wait_for(lambda: client.get_run(run.id).state == "Succeeded", 60, "run resumed")
            done = client.get_run(run.id)
            assert done.outputs["result"] == 11
            first = done.step("first")
            # the finished step was kept, not run again
            assert first.attempt == 1 and first.finished_at == before.step("first").finished_at
            assert client.transport.get_run(run.id).driver_pid != driver_pid

            def restarted() -> bool:
                status: dict[str, Any] = dict(client.get("InferenceGraph", "echo").status)
                return bool(status.get("ready")) and status["pid"] != endpoint_pid

            wait_for(restarted, 60, "endpoint restarted")
    finally:
        platform.stop()
    assert not os.path.exists(home / "platform" / "server.json")


def test_up_detach_status_down(tmp_path: Path) -> None:
    env = platform_env(tmp_path / "home")

    def flowyard(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "flowyard.cli.main", *args], env=env,
                              capture_output=True, text=True, timeout=60)

    assert flowyard("status").returncode == 1
    up = flowyard("up", "--detach", "--port", "0")
    assert up.returncode == 0, up.stderr
    assert "Flowyard platform running at http://127.0.0.1:" in up.stdout
    try:
        status = flowyard("status")
        assert status.returncode == 0 and "ready" in status.stdout
        again = flowyard("up", "--detach", "--port", "0")
        assert again.returncode == 2 and "already runs" in again.stderr
    finally:
        down = flowyard("down")
    assert down.returncode == 0 and "stopped" in down.stdout, down.stderr
    gone = flowyard("down")
    assert gone.returncode == 2 and "no Flowyard platform runs" in gone.stderr


def test_up_on_a_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = subprocess.run(
            [sys.executable, "-m", "flowyard.cli.main", "up", "--port", port],
            env=platform_env(tmp_path / "home"), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "--port" in result.stderr


def test_foreground_up_stops_everything_on_ctrl_c(tmp_path: Path) -> None:
    home = tmp_path / "home"
    state = home / "platform" / "server.json"
    proc = subprocess.Popen([sys.executable, "-m", "flowyard.cli.main", "up", "--port", "0",
                             "--log-level", "warning"], env=platform_env(home),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for(state.exists, 30, "platform up")
        url = json.loads(state.read_text())["url"]
        graph = {"apiVersion": "flowyard.dev/v1alpha1", "kind": "InferenceGraph",
                 "metadata": {"name": "echo"},
                 "spec": {"predictors": [{"name": "main", "graph": {
                     "name": "echo", "className": f"{DATA / 'echo.py'}:Echo"}}]}}
        with Client(server=url, token=admin_token(home)) as client:
            client.apply(graph)
            wait_for(lambda: client.get("InferenceGraph", "echo").status.get("ready"),
                     60, "graph ready")
            endpoint_pid = client.get("InferenceGraph", "echo").status["pid"]
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out
    assert not alive(endpoint_pid)
    assert not state.exists()
