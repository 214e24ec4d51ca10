"""Idle culling from Jupyter's activity API: idle servers stop, workspaces stay."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from notebook_helpers import auth, make_notebook, open_channels, send_execute, start_kernel

from flowyard.notebooks.culling import cull_idle, idle_since
from flowyard.notebooks.spawner import Spawner


@pytest.fixture
def culler_spawner(nb_home: Path) -> Iterator[Spawner]:
    spawner = Spawner(nb_home)
    try:
        yield spawner
    finally:
        spawner.stop_all()


def test_idle_server_is_culled_or_stopped_workspace_kept(culler_spawner: Spawner) -> None:
    server = culler_spawner.start(make_notebook("idle", idleTimeout="1s"))
    (server.workspace / "work.py").write_text("x = 1\n")
    assert cull_idle(culler_spawner) == []  # just started: active
    since = idle_since(server)
    assert since <= datetime.now(UTC)
    assert idle_since(server) == since  # the culler's own look is not activity
    # A clock 1.5 s on instead of sleeping: the idleTimeout (1s) is then over.
    assert cull_idle(culler_spawner, now=datetime.now(UTC) + timedelta(seconds=1.5)) == [
        "team-a/idle"]
    assert server.process.poll() is not None
    assert not culler_spawner.status("team-a", "idle").running
    assert (server.workspace / "work.py").read_text() == "x = 1\n"
    restarted = culler_spawner.start(server.notebook)  # same workspace again
    assert (restarted.workspace / "work.py").exists()
    # An explicit stop (one Jupyter start serves both): True once, workspace kept.
    assert culler_spawner.stop("team-a", "idle") is True
    assert restarted.process.poll() is not None
    assert (restarted.workspace / "work.py").read_text() == "x = 1\n"
    assert culler_spawner.stop("team-a", "idle") is False
    assert not culler_spawner.status("team-a", "idle").running


def test_busy_kernel_keeps_server_alive(culler_spawner: Spawner) -> None:
    server = culler_spawner.start(make_notebook("busy", idleTimeout="1s"))
    kid = start_kernel(server)
    ws = open_channels(server, kid)
    try:
        msg_id = send_execute(ws, "import time; time.sleep(30)")
        while True:  # wait until the kernel reports itself busy with our request
            msg = json.loads(ws.recv())
            if (msg["msg_type"] == "status" and msg["parent_header"].get("msg_id") == msg_id
                    and msg["content"]["execution_state"] == "busy"):
                break
        later = datetime.now(UTC) + timedelta(hours=1)
        # The server learns the kernel is busy from the same status message, a moment after
        # this client saw it: wait for the server's view, then it must hold.
        deadline = time.monotonic() + 20
        while idle_since(server, now=later) != later and time.monotonic() < deadline:
            time.sleep(0.05)
        assert idle_since(server, now=later) == later
        assert cull_idle(culler_spawner, now=later) == []
        requests.post(f"{server.url}api/kernels/{kid}/interrupt", headers=auth(server),
                      timeout=10).raise_for_status()
        deadline = time.monotonic() + 20
        while idle_since(server, now=later) == later and time.monotonic() < deadline:
            time.sleep(0.1)
        assert cull_idle(culler_spawner, now=later) == ["team-a/busy"]  # idle again: culled
    finally:
        ws.close()
