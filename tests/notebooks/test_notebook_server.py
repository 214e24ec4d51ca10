"""A real Jupyter server from a Notebook resource: REST, a kernel over the websocket, stop."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from notebook_helpers import execute, make_notebook

from flowyard.errors import RunFailed
from flowyard.notebooks.spawner import NotebookServer, Spawner


def test_server_layout(server: NotebookServer, nb_home: Path) -> None:
    folder = nb_home / "notebooks" / "team-a" / "explore"
    assert server.url.startswith("http://127.0.0.1:")
    assert server.url.endswith("/notebook/team-a/explore/")
    assert server.workspace == folder / "workspace" and server.workspace.is_dir()
    assert (folder / "runtime").is_dir()  # JUPYTER_RUNTIME_DIR is the notebook's own
    assert server.log_path.is_file()
    assert server.token not in repr(server)


def test_token_required(server: NotebookServer) -> None:
    assert requests.get(f"{server.url}api/status", timeout=5).status_code == 403
    port_root = server.url.split("/notebook/")[0]
    assert requests.get(f"{port_root}/api/status", timeout=5).status_code == 404


def test_kernel_executes_over_websocket(server: NotebookServer) -> None:
    assert execute(server, "1+1") == "2"


def test_kernel_runs_in_workspace(server: NotebookServer) -> None:
    (server.workspace / "hello.txt").write_text("hi")
    assert execute(server, "open('hello.txt').read()") == "'hi'"


def test_status_reports_url_and_activity(spawner: Spawner, server: NotebookServer) -> None:
    status = spawner.status("team-a", "explore")
    assert status.running and status.url == server.url
    assert status.last_activity is not None and status.last_activity.tzinfo is not None


def test_start_is_idempotent(spawner: Spawner, server: NotebookServer) -> None:
    assert spawner.start(server.notebook) is server


def test_bad_option_reports_log_tail(nb_home: Path) -> None:
    bad = Spawner(nb_home, extra_args=["--bogus-flag"])
    with pytest.raises(RunFailed) as info:
        bad.start(make_notebook("broken"))
    message = str(info.value)
    assert "team-a/broken" in message and "exited with code" in message
    assert "bogus-flag" in message  # the log tail names the bad option
    assert "server.log" in message
    assert bad.servers() == []
    status = bad.status("team-a", "broken")
    assert not status.running and "bogus-flag" in status.log_tail


# Stop keeps the workspace: test_notebook_culling.py (it reuses that test's server).


def test_jupyterlab_served_when_installed(server: NotebookServer) -> None:
    pytest.importorskip("jupyterlab")
    response = requests.get(f"{server.url}lab", headers={"Authorization": f"token {server.token}"},
                            timeout=10)
    assert response.status_code == 200 and "/notebook/team-a/explore/" in response.text
