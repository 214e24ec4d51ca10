"""Shared fixtures: free ports, HTTP readiness, and an isolated FLOWYARD_HOME."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cli_runner import Result, cli_runner
from net_helpers import free_port, wait_http


def wait_driver_gone(run_id: str, timeout: float = 30.0) -> None:
    """Wait until the detached driver process of `run_id` has exited (tests leave none)."""
    import os

    from flowyard.client import Client

    with Client() as client:
        pid = client.transport.get_run(run_id).driver_pid
    if pid is None or pid == os.getpid():
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        except PermissionError:  # pid reused by another user's process: ours is gone
            return
        time.sleep(0.05)
    raise TimeoutError(f"driver {pid} of run {run_id} still alive after {timeout}s")


@pytest.fixture(name="wait_driver_gone")
def wait_driver_gone_fixture() -> Callable[..., None]:
    return wait_driver_gone


@pytest.fixture(name="free_port")
def free_port_fixture() -> Callable[[], int]:
    return free_port


@pytest.fixture(name="wait_http")
def wait_http_fixture() -> Callable[..., Any]:
    return wait_http


@pytest.fixture
def flowyard_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty FLOWYARD_HOME under tmp_path; other FLOWYARD_* settings are cleared."""
    home = tmp_path / "flowyard-home"
    for name in ("FLOWYARD_DATABASE_URL", "FLOWYARD_OBJECT_STORE_URL", "FLOWYARD_SERVER",
                 "FLOWYARD_S3_ENDPOINT_URL", "FLOWYARD_NAMESPACE", "FLOWYARD_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FLOWYARD_HOME", str(home))
    return home



@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], flowyard_home: Path) -> Callable[..., Result]:
    """`cli("runs", "list")` -> Result(code, stdout, stderr), through the real error contract."""
    return cli_runner(capsys)
