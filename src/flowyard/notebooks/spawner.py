"""Start, watch and stop one real Jupyter Server per Notebook resource.

Each server listens on 127.0.0.1 only, under `/notebook/<profile>/<name>/`, with a random
secret the spawner keeps (`NotebookServer.token`): Jupyter's login is replaced by
`flowyard.notebooks.identity.GatewayIdentityProvider`, which admits only requests carrying
`Authorization: token <secret>`; the platform gateway adds it, users never see it. The
kernels run on the environment's interpreter (a virtualenv made on first use). A notebook's
folder under `$FLOWYARD_HOME/notebooks/<profile>/<name>/` holds its workspace (Jupyter's
root_dir, kept across stops and culls), Jupyter's runtime and data dirs, and `server.log`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from flowyard.errors import ConfigError, NotFound, RunFailed
from flowyard.notebooks.environments import get_environment, prepare
from flowyard.resources.notebook import Notebook
from flowyard.settings import Settings

LOG_TAIL_LINES = 30
IDENTITY_PROVIDER = "flowyard.notebooks.identity.GatewayIdentityProvider"
SECRET_ENV = "FLOWYARD_NOTEBOOK_SECRET"  # see flowyard.notebooks.identity


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def base_url(profile: str, name: str) -> str:
    return f"/notebook/{profile}/{name}/"


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _kernel_spec(data_dir: Path, python: str, environment: str) -> None:
    """Point the `python3` kernel at the environment's interpreter (its virtualenv).

    Jupyter reads kernel specs from JUPYTER_DATA_DIR first, so this one shadows the
    platform's own; with the platform's interpreter no override is needed.
    """
    spec = data_dir / "kernels" / "python3" / "kernel.json"
    if python == sys.executable:
        spec.unlink(missing_ok=True)
        return
    spec.parent.mkdir(parents=True, exist_ok=True)
    spec.write_text(json.dumps({
        "argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": f"Python ({environment})", "language": "python",
    }, indent=1), encoding="utf-8")


def parse_time(value: str) -> datetime:
    """Jupyter's ISO timestamps ('...Z' or '+00:00') as aware UTC datetimes."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


@dataclass
class NotebookServer:
    """A running server; `token` stays inside the platform."""

    notebook: Notebook
    folder: Path
    port: int
    token: str = field(repr=False)
    process: subprocess.Popen[bytes] = field(repr=False)
    root: Path | None = None  # Jupyter's root_dir when not the notebook's own workspace
    # One client per server, kept: a new httpx client costs ~45 ms of CPU (its SSL context),
    # and the controller asks every server for its activity every few seconds.
    _client: httpx.Client | None = field(default=None, init=False, repr=False)

    @property
    def profile(self) -> str:
        return self.notebook.namespace

    @property
    def name(self) -> str:
        return self.notebook.name

    @property
    def url(self) -> str:
        """Loopback URL of the server (base_url included), for the gateway and tests."""
        return f"http://127.0.0.1:{self.port}{base_url(self.profile, self.name)}"

    @property
    def workspace(self) -> Path:
        return self.root if self.root is not None else self.folder / "workspace"

    @property
    def log_path(self) -> Path:
        return self.folder / "server.log"

    def running(self) -> bool:
        return self.process.poll() is None

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Call the server's REST API with its token (path relative to base_url)."""
        client = self._client
        if client is None:
            client = self._client = httpx.Client(
                headers={"Authorization": f"token {self.token}"}, timeout=5.0)
        try:
            return client.request(method, self.url + path, **kwargs)
        except RuntimeError as exc:   # closed meanwhile by a stop() on another thread
            raise httpx.TransportError(f"notebook server {self.name} stopped: {exc}") from exc

    def close_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()


@dataclass(frozen=True)
class NotebookStatus:
    profile: str
    name: str
    running: bool
    url: str | None
    last_activity: datetime | None
    log_tail: str


class Spawner:
    """Owns the Jupyter processes of this platform instance, keyed by (profile, name).

    `extra_args` is appended to every server's command line (a seam for tests and for
    operators' Jupyter options).
    """

    def __init__(
        self,
        home: Path | None = None,
        *,
        extra_args: Sequence[str] = (),
        start_timeout: float = 60.0,
        stop_timeout: float = 10.0,
        preexec: Callable[[], None] | None = None,
    ) -> None:
        self.home = home if home is not None else Settings().ensure_home()
        self.extra_args = list(extra_args)
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.preexec = preexec  # e.g. the platform's parent-death signal
        self._servers: dict[tuple[str, str], NotebookServer] = {}

    def folder(self, profile: str, name: str) -> Path:
        return self.home / "notebooks" / profile / name

    def get(self, profile: str, name: str) -> NotebookServer:
        try:
            return self._servers[(profile, name)]
        except KeyError:
            raise NotFound(
                f"notebook {profile}/{name} has no server started by this spawner",
                hint="start it first",
            ) from None

    def servers(self) -> list[NotebookServer]:
        return list(self._servers.values())

    def start(self, notebook: Notebook, **launch: Any) -> NotebookServer:
        """Start the notebook's server and wait until its API answers; idempotent."""
        key = (notebook.namespace, notebook.name)
        current = self._servers.get(key)
        if current is not None and current.running():
            return current
        server = self.launch(notebook, **launch)
        self._wait_ready(server)
        return server

    def launch(
        self,
        notebook: Notebook,
        *,
        python: str | None = None,
        env: Mapping[str, str] | None = None,
        workspace: Path | None = None,
    ) -> NotebookServer:
        """Start the server process without waiting for it (the platform polls readiness).

        `python` runs the kernels (default: the environment's interpreter, its virtualenv
        created on first use); Jupyter itself runs on this interpreter. `env` is added to the
        server's (and so the kernels') environment; `workspace` replaces the notebook's own
        folder as Jupyter's root_dir.
        """
        key = (notebook.namespace, notebook.name)
        current = self._servers.get(key)
        if current is not None and current.running():
            return current
        if python is None:
            python = prepare(self.home, get_environment(notebook.spec.environment))
        folder = self.folder(*key)
        workspace = workspace if workspace is not None else folder / "workspace"
        try:
            folder.mkdir(parents=True, exist_ok=True)  # server.log lives here, whatever
            workspace.mkdir(parents=True, exist_ok=True)  # root_dir (maybe a volume) is used
            _kernel_spec(folder / "data", python, notebook.spec.environment)
        except OSError as exc:
            raise ConfigError(f"cannot prepare notebook folder {folder}: {exc}") from exc
        port, secret = free_port(), secrets.token_hex(24)
        command = [
            sys.executable, "-m", "jupyter_server", "--no-browser", "--ip=127.0.0.1",
            f"--port={port}", "--port-retries=0",
            f"--ServerApp.base_url={base_url(*key)}",
            f"--ServerApp.root_dir={workspace}",
            f"--ServerApp.identity_provider_class={IDENTITY_PROVIDER}",
        ]
        if importlib.util.find_spec("jupyterlab") is not None:
            command.append("--ServerApp.default_url=/lab")
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command.append("--allow-root")  # Jupyter refuses root unless told
        command += self.extra_args
        child_env = {
            **os.environ,
            "FLOWYARD_NAMESPACE": notebook.namespace,
            **(env or {}),
            "JUPYTER_RUNTIME_DIR": str(folder / "runtime"),
            "JUPYTER_DATA_DIR": str(folder / "data"),
            # First on the search path: inside a virtualenv Jupyter prefers sys.prefix's
            # kernels over JUPYTER_DATA_DIR's, and the environment's kernel spec must win.
            "JUPYTER_PATH": str(folder / "data"),
            SECRET_ENV: secret,  # popped by the identity provider: kernels never see it
        }
        log_path = folder / "server.log"
        with log_path.open("wb") as log:  # the child keeps its own copy of the descriptor
            process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=child_env, cwd=workspace, start_new_session=True,
                preexec_fn=self.preexec,
            )
        server = NotebookServer(notebook, folder, port, secret, process, workspace)
        self._servers[key] = server
        return server

    def check_ready(self, server: NotebookServer) -> bool:
        """One probe of api/status; RunFailed (with the log tail) if the process died."""
        code = server.process.poll()
        if code is not None:
            self._servers.pop((server.profile, server.name), None)
            server.close_client()
            raise RunFailed(
                f"Jupyter server for notebook {server.profile}/{server.name} exited with "
                f"code {code} before it was ready; last lines of {server.log_path}:\n"
                + log_tail(server.log_path)
            )
        try:
            return server.api("GET", "api/status").status_code == 200
        except httpx.HTTPError:
            return False

    def _wait_ready(self, server: NotebookServer) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.check_ready(server):
                return
            time.sleep(0.1)
        self._terminate(server)
        self._servers.pop((server.profile, server.name), None)
        raise RunFailed(
            f"Jupyter server for notebook {server.profile}/{server.name} not ready after "
            f"{self.start_timeout:g}s; last lines of {server.log_path}:\n"
            + log_tail(server.log_path)
        )

    def _terminate(self, server: NotebookServer) -> None:
        # SIGTERM lets Jupyter shut its kernels down; kill the group only if it hangs.
        server.close_client()
        if server.process.poll() is None:
            server.process.terminate()
            try:
                server.process.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(server.process.pid, signal.SIGKILL)
                server.process.wait()

    def stop(self, profile: str, name: str) -> bool:
        """Stop the server, keep the workspace; False when it was not running."""
        server = self._servers.pop((profile, name), None)
        if server is None:
            return False
        was_running = server.running()
        self._terminate(server)
        return was_running

    def stop_all(self) -> None:
        for profile, name in list(self._servers):
            self.stop(profile, name)

    def status(self, profile: str, name: str) -> NotebookStatus:
        server = self._servers.get((profile, name))
        log = log_tail(self.folder(profile, name) / "server.log")
        if server is None or not server.running():
            return NotebookStatus(profile, name, False, None, None, log)
        last: datetime | None = None
        try:
            response = server.api("GET", "api/status")
            if response.status_code == 200:
                last = parse_time(response.json()["last_activity"])
        except (httpx.HTTPError, KeyError, ValueError):
            last = None
        return NotebookStatus(profile, name, True, server.url, last, log)
