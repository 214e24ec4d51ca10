"""`flowyard up` gets ready sooner: nothing the first request does not need is imported on
the way, the state file is never seen half-written, and `flowyard status` asks /readyz."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from platform_helpers import platform_env

from cli_runner import Result
from flowyard.platform.server import read_state, state_file
from flowyard.settings import Settings

# Heavy modules only some requests need: httpx pulls in rich (its CLI's console), the
# spawner the notebook resource models; each is imported by the code that uses it.
NOT_ON_THE_WAY = ("httpx", "rich", "flowyard.notebooks.spawner", "flowyard.resources",
                  "websockets.asyncio.client", "flowyard.pipelines.engine.engine")
START = f"""
import asyncio, json, sys
from flowyard.platform.api import create_app
from flowyard.platform.runtime import Platform
from flowyard.settings import Settings

platform = Platform(Settings())
platform.auth.bootstrap()
app = create_app(platform)

async def start_and_stop() -> None:
    await platform.startup()
    await platform.shutdown()

asyncio.run(start_and_stop())
print(json.dumps([m for m in {NOT_ON_THE_WAY!r} if m in sys.modules]))
"""


def test_starting_the_platform_imports_only_what_serving_needs(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", START], env=platform_env(tmp_path / "home"),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_a_half_written_state_file_is_left_alone_and_a_stale_one_removed(
        flowyard_home: Path) -> None:
    settings = Settings()
    path = state_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"pid": ')  # what a reader may catch of a file being written
    assert read_state(settings) is None
    assert path.exists(), "a file still being written must not be removed"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    path.write_text(json.dumps({"pid": dead.pid, "url": "http://127.0.0.1:1"}))
    assert read_state(settings) is None
    assert not path.exists(), "the file of a platform that is gone is removed"
    path.write_text(json.dumps({"pid": os.getpid(), "url": "http://127.0.0.1:1"}))
    assert read_state(settings) == {"pid": os.getpid(), "url": "http://127.0.0.1:1"}


@pytest.fixture
def readyz() -> Iterator[tuple[str, Callable[[int], None]]]:
    """A loopback server whose /readyz answers the status set through the callable."""
    answer = {"status": 200}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            code = answer["status"] if self.path == "/readyz" else 404
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def set_status(code: int) -> None:
        answer["status"] = code

    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", set_status
    finally:
        server.shutdown()
        server.server_close()


def test_status_says_ready_only_when_readyz_answers_200(
        cli: Callable[..., Result], flowyard_home: Path,
        readyz: tuple[str, Callable[[int], None]]) -> None:
    url, set_status = readyz
    path = state_file(Settings())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pid": os.getpid(), "url": url}))
    said = cli("status")
    assert said.code == 0 and said.out.strip().endswith(f"(pid {os.getpid()}), ready")
    set_status(503)
    said = cli("status")
    assert said.code == 0 and said.out.strip().endswith("NOT ready")
    path.write_text(json.dumps({"pid": os.getpid(), "url": closed_port_url()}))
    said = cli("status")
    assert said.code == 0 and said.out.strip().endswith("NOT ready")


def closed_port_url() -> str:
    """The URL of a loopback port that was bound and closed again: nobody listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"
