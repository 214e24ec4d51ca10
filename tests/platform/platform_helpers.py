"""Helpers for platform tests: start a real `python -m flowyard.platform`, wait for things."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

DATA = Path(__file__).parent / "data"
CLEAN_ENV = ("FLOWYARD_DATABASE_URL", "FLOWYARD_OBJECT_STORE_URL", "FLOWYARD_SERVER",
             "FLOWYARD_S3_ENDPOINT_URL", "FLOWYARD_NAMESPACE", "FLOWYARD_DEBUG",
             "FLOWYARD_TOKEN")


@dataclass
class LivePlatform:
    home: Path
    proc: subprocess.Popen[bytes]
    url: str

    @property
    def token(self) -> str:
        return admin_token(self.home)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def env(self) -> dict[str, str]:
        return {**platform_env(self.home), "FLOWYARD_TOKEN": self.token}

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def admin_token(home: Path) -> str:
    """The admin token the platform's first start left in FLOWYARD_HOME."""
    return (home / "platform" / "initial-admin-token").read_text().strip()


def platform_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}
    env["FLOWYARD_HOME"] = str(home)
    return env


def start_platform(home: Path, timeout: float = 30.0) -> LivePlatform:
    """`python -m flowyard.platform --port 0`; ready when it writes its state file."""
    state = home / "platform" / "server.json"
    state.unlink(missing_ok=True)
    home.mkdir(parents=True, exist_ok=True)
    log = open(home / "platform-test.log", "ab")  # noqa: SIM115 - kept for the process
    proc = subprocess.Popen([sys.executable, "-m", "flowyard.platform", "--port", "0",
                             "--log-level", "warning"], env=platform_env(home),
                            stdout=log, stderr=subprocess.STDOUT)
    log.close()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            text = (home / "platform-test.log").read_text(errors="replace")
            raise RuntimeError(f"platform exited with {proc.returncode}:\n{text}")
        try:
            data = json.loads(state.read_text())
        except (OSError, ValueError):
            time.sleep(0.05)
            continue
        if data.get("pid") == proc.pid:
            return LivePlatform(home, proc, data["url"])
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    raise TimeoutError("platform did not start")


def wait_for(predicate: Any, timeout: float = 30.0, what: str = "condition") -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise TimeoutError(f"{what} not reached in {timeout}s")


API = "/api/v1alpha1"


class Site:
    """An in-process platform (httpx over ASGI) with its first-start admin token."""

    def __init__(self, app: Any, admin: str) -> None:
        self.app, self.admin = app, admin

    def client(self, token: str | None = None, **headers: str) -> httpx.AsyncClient:
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app),
                                 base_url="http://flowyard.test", headers=headers)

    async def user(self, name: str, password: str | None = None, *,
                   profile: str | None = None, admin: bool = False) -> str:
        """A user (and a profile it owns); returns a token for it."""
        async with self.client(self.admin) as client:
            body: dict[str, Any] = {"name": name, "password": password, "admin": admin}
            made = await client.post(f"{API}/users", json=body)
            assert made.status_code == 201, made.text
            if profile:
                owned = await client.post(f"{API}/profiles",
                                          json={"name": profile, "owner": name})
                assert owned.status_code == 201, owned.text
            answer = await client.post(f"{API}/tokens", json={"user": name})
            assert answer.status_code == 201, answer.text
            return str(answer.json()["token"])


def pipeline(name: str = "hello") -> dict[str, Any]:
    body: dict[str, Any] = yaml.safe_load((DATA / "pipeline.yaml").read_text())
    body["metadata"] = {"name": name}
    return body
