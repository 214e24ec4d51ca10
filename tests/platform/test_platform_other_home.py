"""`flowyard down` and `status` in a shell that lost `export FLOWYARD_HOME=$PWD/.flowyard`:
the platform the quickstart started for ./.flowyard is named, with the command that reaches
it. No platform starts: a server.json names a live process (a `sleep`, not this one, so a
wrong `down` could not stop the test run)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cli_runner import Result
from flowyard.platform.server import state_file
from flowyard.settings import Settings

URL = "http://127.0.0.1:8471"


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(["sleep", "120"])
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def _state_here(folder: Path, pid: int) -> Path:
    path = state_file(Settings(home=folder / ".flowyard"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pid": pid, "url": URL, "host": "127.0.0.1", "port": 8471}))
    return path


def test_down_and_status_name_the_platform_of_dot_flowyard(
        cli: Callable[..., Result], flowyard_home: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, sleeper: subprocess.Popen[bytes]) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    monkeypatch.chdir(folder)
    path = _state_here(folder, sleeper.pid)
    down = cli("down")
    assert down.code != 0
    assert f"no Flowyard platform runs for {flowyard_home}; one runs for ./.flowyard " \
           f"({URL}, pid {sleeper.pid})" in down.err
    assert "FLOWYARD_HOME=$PWD/.flowyard flowyard down" in down.err
    assert sleeper.poll() is None  # named, not stopped
    status = cli("status")
    assert status.code == 1
    assert status.out.strip() == (
        f"Flowyard platform: not running (home {flowyard_home}); one runs for ./.flowyard "
        f"at {URL} (pid {sleeper.pid}): FLOWYARD_HOME=$PWD/.flowyard flowyard status")
    # Its process gone, the file is stale: nothing is named.
    sleeper.kill()
    sleeper.wait()
    down = cli("down")
    assert "one runs for" not in down.err and "flowyard up --detach starts one" in down.err
    assert "one runs for" not in cli("status").out
    assert not path.exists()


def test_the_current_home_being_dot_flowyard_is_not_named_twice(
        cli: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # FLOWYARD_HOME is ./.flowyard itself and nothing runs: the plain message.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FLOWYARD_HOME", str(tmp_path / ".flowyard"))
    (tmp_path / ".flowyard").mkdir()
    status = cli("status")
    assert status.code == 1
    assert status.out.strip() == f"Flowyard platform: not running (home {tmp_path / '.flowyard'})"
