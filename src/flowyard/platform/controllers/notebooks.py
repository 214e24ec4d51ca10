"""Notebook resources as managed Jupyter Servers, reached only through the gateway.

Each pass compares the stored Notebooks with the servers this platform runs:

- wanted and not running: prepare its environment (a virtualenv on first use, in a worker
  thread), attach its volumes, mint the kernel's Flowyard token, launch Jupyter with
  base_url `/notebook/<profile>/<name>/`, then poll `api/status` until it answers;
- the annotation `notebooks.flowyard.dev/stopped` (set by `stop` and by the culler, as
  Kubeflow's `kubeflow-resource-stopped`): stopped, workspace kept;
- a new generation or a new `notebooks.flowyard.dev/restartedAt`: restarted;
- a crashed server: restarted with a growing back-off, the log tail in `status.message`;
- idle longer than `spec.idleTimeout` by Jupyter's own activity API: culled (stopped);
- deleted: stopped, volumes released, the kernel's token revoked; the workspace stays.

All desired state lives in the resource, so a platform restarted after SIGKILL (which also
kills its Jupyter servers: parent-death signal) starts the same notebooks again.

The kernel's identity: a service user `nb.<profile>.<name>` with the `edit` role in the
notebook's profile only (Kubeflow's `default-editor` service account), recreated at every
start so older tokens die with the server that held them.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shlex
import subprocess
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from starlette.concurrency import run_in_threadpool

from flowyard.errors import Conflict, FlowyardError, NotFound, RunFailed
from flowyard.platform import procs
from flowyard.platform.routes_table import GatewayRoute, notebook_route

if TYPE_CHECKING:
    import httpx

    from flowyard.notebooks.environments import Environment
    from flowyard.notebooks.spawner import NotebookServer, Spawner
    from flowyard.platform.runtime import Platform
    from flowyard.resources.notebook import Notebook

log = logging.getLogger("flowyard.platform.notebooks")
KIND = "Notebook"
STOPPED = "notebooks.flowyard.dev/stopped"
STOP_REASON = "notebooks.flowyard.dev/stopReason"
RESTARTED = "notebooks.flowyard.dev/restartedAt"
MAX_BACKOFF = 60.0
START_TIMEOUT = 120.0
ACTIVITY_INTERVAL = 5.0
CHECK_INTERVAL_ENV = "FLOWYARD_NOTEBOOK_CHECK_INTERVAL"
TAIL = 20
JUPYTER_ARGS_ENV = "FLOWYARD_NOTEBOOK_JUPYTER_ARGS"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def check_interval() -> float:
    """Seconds between the controller's looks at a running server's activity (idle culling)
    and between retries of a notebook whose volume another writer holds:
    `FLOWYARD_NOTEBOOK_CHECK_INTERVAL`, default 5 (Kubeflow's IDLENESS_CHECK_PERIOD)."""
    raw = os.environ.get(CHECK_INTERVAL_ENV, "").strip()
    if not raw:
        return ACTIVITY_INTERVAL
    try:
        seconds = float(raw)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds <= 3600:  # also false for nan
        from flowyard.errors import ConfigError

        raise ConfigError(f"{CHECK_INTERVAL_ENV}={raw!r} is not a number of seconds in "
                          "(0, 3600]",
                          hint=f"set {CHECK_INTERVAL_ENV} to e.g. 5, or unset it for 5 s")
    return seconds


def service_user(profile: str, name: str) -> str:
    """The user the notebook's kernels act as (names starting 'nb.' are the notebooks')."""
    user = f"nb.{profile}.{name}"
    if len(user) <= 63:
        return user
    return "nb." + hashlib.sha256(f"{profile}/{name}".encode()).hexdigest()[:32]


@dataclass
class Managed:
    namespace: str
    name: str
    generation: int = 0
    restart_mark: str | None = None
    server: NotebookServer | None = None
    phase: str = "Pending"
    message: str = ""
    ready: bool = False
    launched: float = 0.0
    restarts: int = 0
    next_start: float = 0.0
    next_activity: float = 0.0
    last_activity: str | None = None
    started_at: str | None = None
    environment: str = ""
    prepare: subprocess.Popen[bytes] | None = None
    sticky: tuple[int, str | None] | None = None  # failed for good at (generation, mark)
    volumes: list[str] = field(default_factory=list)
    status: dict[str, Any] = field(default_factory=dict)
    route: GatewayRoute | None = None

    @property
    def key(self) -> tuple[str, str]:
        return self.namespace, self.name


class NotebookController:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.managed: dict[tuple[str, str], Managed] = {}
        self.activity_interval = check_interval()
        self._spawner: Spawner | None = None
        self._client: httpx.AsyncClient | None = None
        self._url: str | None = None
        self._preparing: dict[str, subprocess.Popen[bytes]] = {}
        self._routes: tuple[GatewayRoute, ...] = ()
        # Status writes and the actions' annotation writes are read-modify-write of one
        # stored body; in one process, a lock keeps either from undoing the other.
        self.write_lock = threading.Lock()
        self._route_key: tuple[Any, ...] = ()

    @property
    def _http(self) -> httpx.AsyncClient:
        # Made on first use, as the spawner is: with no notebook, `flowyard up` need not
        # import httpx (and the rich console its CLI pulls in) nor the spawner.
        if self._client is None:
            import httpx

            self._client = httpx.AsyncClient(timeout=2.0, trust_env=False)
        return self._client

    @property
    def spawner(self) -> Spawner:
        if self._spawner is None:
            from flowyard.notebooks.spawner import Spawner

            # Operators' Jupyter options, e.g. "--ServerApp.terminals_enabled=False".
            extra = shlex.split(os.environ.get(JUPYTER_ARGS_ENV, ""))
            self._spawner = Spawner(self.platform.settings.ensure_home(), extra_args=extra,
                                    preexec=procs.die_with_parent)
        return self._spawner

    # -- the gateway's route provider -------------------------------------------------------
    def gateway_routes(self) -> tuple[GatewayRoute, ...]:
        """One route per running server (the same tuple while nothing changed)."""
        servers = [(m.namespace, m.name, m.server.port, m.server.token, m.ready)
                   for m in self.managed.values() if m.server is not None]
        key = tuple(sorted((ns, n, port, ready) for ns, n, port, _, ready in servers))
        if key != self._route_key:
            self._routes = tuple(notebook_route(ns, n, port, token, ready=ready)
                                 for ns, n, port, token, ready in sorted(servers))
            self._route_key = key
        return self._routes

    # -- reconcile --------------------------------------------------------------------------
    async def reconcile(self) -> None:
        bodies = await run_in_threadpool(self.platform.metadata.list_resources, KIND)
        wanted = {(b["metadata"]["namespace"], b["metadata"]["name"]): b for b in bodies}
        for key in [k for k in self.managed if k not in wanted]:
            await self._forget(self.managed.pop(key))
        for key, body in wanted.items():
            m = self.managed.setdefault(key, Managed(*key))
            try:
                await self._one(m, body)
            except FlowyardError as exc:
                await self._halt(m)
                m.phase, m.message = "Failed", str(exc)
                m.sticky = (m.generation, m.restart_mark)
            except Exception as exc:  # a bug with one notebook must not stall the others
                log.exception("Notebook %s/%s: reconcile failed", *key)
                m.phase, m.message = "Failed", f"internal error: {type(exc).__name__}: {exc}"
                m.next_start = time.monotonic() + MAX_BACKOFF
            await self._write_status(m)

    async def _one(self, m: Managed, body: dict[str, Any]) -> None:
        from flowyard.resources.loader import parse_resource

        meta = body.get("metadata") or {}
        notes = meta.get("annotations") or {}
        generation = int(meta.get("generation") or 1)
        mark = notes.get(RESTARTED)
        changed = (generation, mark) != (m.generation, m.restart_mark)
        if notes.get(STOPPED):
            if m.server is not None or m.prepare is not None or m.phase != "Stopped":
                await self._halt(m)
                m.phase = "Stopped"
                m.message = str(notes.get(STOP_REASON) or f"stopped at {notes[STOPPED]}")
                m.restarts = 0
            m.generation, m.restart_mark = generation, mark
            return
        if changed and (m.server is not None or m.prepare is not None):
            log.info("Notebook %s/%s: %s; restarting", m.namespace, m.name,
                     "spec changed" if generation != m.generation else "restart asked")
            await self._halt(m)
            m.restarts = 0
        if changed:
            m.sticky, m.next_start = None, 0.0
        m.generation, m.restart_mark = generation, mark
        if m.sticky == (generation, mark):
            return  # failed for a reason a retry cannot fix: wait for a change
        if m.server is None:
            from flowyard.resources.notebook import Notebook

            notebook = parse_resource({k: v for k, v in body.items() if k != "status"})
            assert isinstance(notebook, Notebook)
            await self._bring_up(m, notebook)
            return
        await self._watch(m, body)

    async def _bring_up(self, m: Managed, notebook: Notebook) -> None:
        from flowyard.notebooks import environments

        if time.monotonic() < m.next_start:
            return
        env = environments.get_environment(notebook.spec.environment)
        m.environment = env.name
        home = self.platform.settings.home
        if m.prepare is None:
            if environments.is_prepared(home, env):
                python = await run_in_threadpool(environments.prepare, home, env)
            else:
                m.phase = "Preparing"
                m.message = (f"creating environment {env.name!r} on first use in "
                             f"{environments.venv_folder(home, env)}"
                             + (f" (pip install {' '.join(env.packages)})" if env.packages
                                else "") + "; log: "
                             + str(environments.venv_folder(home, env).with_suffix(".log")))
                m.prepare = self._prepare(home, env)
                return
        if m.prepare is not None:
            ready = self._prepared(m, home, env)  # a ConfigError here is sticky: reconcile
            if ready is None:
                return
            python = ready
        url = self._platform_url()
        if url is None:
            m.phase, m.message = "Pending", "waiting for the platform's address"
            return
        workspace = await run_in_threadpool(self._attach_volumes, m, notebook)
        if workspace is False:
            return  # a volume is not ready yet, or held by another writer
        token = await run_in_threadpool(self._mint_token, m)
        env_vars = {"FLOWYARD_SERVER": url, "FLOWYARD_NAMESPACE": m.namespace}
        if token:
            env_vars["FLOWYARD_TOKEN"] = token
        # Spawned from the event-loop thread: the parent-death signal is tied to it.
        m.server = self.spawner.launch(notebook, python=python, env=env_vars,
                                       workspace=workspace)
        m.ready, m.launched = False, time.monotonic()
        m.phase, m.message = "Starting", f"Jupyter server starting (pid {m.server.process.pid})"
        m.last_activity, m.next_activity = None, 0.0
        self._link_volumes(m, notebook)
        log.info("Notebook %s/%s: Jupyter pid %d on port %d", m.namespace, m.name,
                 m.server.process.pid, m.server.port)

    def _prepare(self, home: Path, env: Environment) -> subprocess.Popen[bytes]:
        """One preparation per environment, shared by every notebook waiting for it: a child
        process (`python -m flowyard.notebooks.environments NAME`) that dies with the
        platform, spawned from the event-loop thread."""
        from flowyard.client.embedded import settings_env

        proc = self._preparing.get(env.name)
        if proc is None or proc.poll() is not None:
            out = self._prepare_output(home, env)
            out.unlink(missing_ok=True)
            proc = procs.spawn(["-m", "flowyard.notebooks.environments", env.name], log=out,
                               env=settings_env(self.platform.settings))
            self._preparing[env.name] = proc
            log.info("notebook environment %s: preparing (pid %d)", env.name, proc.pid)
        return proc

    @staticmethod
    def _prepare_output(home: Path, env: Environment) -> Path:
        from flowyard.notebooks import environments

        return environments.venv_folder(home, env).with_suffix(".out")

    def _prepared(self, m: Managed, home: Path, env: Environment) -> str | None:
        """The interpreter once the preparation ended; ConfigError with its words if it
        failed; None while it runs."""
        from flowyard.errors import ConfigError
        from flowyard.notebooks import environments

        proc = m.prepare
        assert proc is not None
        code = proc.poll()
        if code is None:
            return None
        m.prepare = None
        if self._preparing.get(env.name) is proc:
            del self._preparing[env.name]
        if code == 0 and environments.is_prepared(home, env):
            return environments.prepare(home, env)  # ready: returns at once
        said = _log_tail(self._prepare_output(home, env), 60) or f"exit code {code}"
        raise ConfigError(said)

    async def _watch(self, m: Managed, body: dict[str, Any]) -> None:
        server = m.server
        assert server is not None
        code = server.process.poll()
        if code is not None:
            tail = _log_tail(server.log_path, TAIL)
            was_ready = m.ready
            what = "exited with code" if was_ready else "failed to start (exit code"
            delay = min(MAX_BACKOFF, 1.0 * 2 ** m.restarts)
            self.spawner.stop(m.namespace, m.name)  # forget it (already dead)
            await run_in_threadpool(self._release_volumes, m)
            m.server, m.ready = None, False
            m.restarts += 1
            m.next_start = time.monotonic() + delay
            m.phase = "Failed"
            m.message = (f"Jupyter server {what} {code}{'' if was_ready else ')'}; "
                         f"retrying in {delay:g}s; last lines of {server.log_path}:\n{tail}")
            log.warning("Notebook %s/%s: Jupyter exited with %s", m.namespace, m.name, code)
            return
        if not m.ready:
            if await self._answers(server):
                m.ready, m.phase = True, "Running"
                m.message, m.started_at = "", now_iso()
                m.next_activity = time.monotonic() + self.activity_interval
            elif time.monotonic() - m.launched > START_TIMEOUT:
                tail = _log_tail(server.log_path, TAIL)
                await self._halt(m)
                m.phase = "Failed"
                m.message = (f"Jupyter server not ready after {START_TIMEOUT:g}s; last lines "
                             f"of {server.log_path}:\n{tail}")
                m.next_start = time.monotonic() + MAX_BACKOFF
            return
        if time.monotonic() >= m.next_activity:
            m.next_activity = time.monotonic() + self.activity_interval
            await self._check_idle(m, body)

    async def _answers(self, server: NotebookServer) -> bool:
        import httpx

        try:
            answer = await self._http.get(server.url + "api/status",
                                          headers={"Authorization": f"token {server.token}"})
        except httpx.HTTPError:
            return False
        return answer.status_code == 200

    async def _check_idle(self, m: Managed, body: dict[str, Any]) -> None:
        from flowyard.notebooks.culling import idle_since

        server = m.server
        assert server is not None
        try:
            since = await run_in_threadpool(idle_since, server)
        except RunFailed:
            return  # unreadable now; the next look decides
        m.last_activity = since.isoformat(timespec="seconds")
        idle = (datetime.now(UTC) - since).total_seconds()
        timeout = server.notebook.spec.idle_timeout
        if idle > timeout:
            reason = (f"culled at {now_iso()}: idle for {idle:.0f}s (idleTimeout "
                      f"{timeout:g}s); workspace kept; start it again with `flowyard "
                      f"notebook start {m.name} -n {m.namespace}`")
            log.info("Notebook %s/%s: %s", m.namespace, m.name, reason)
            await run_in_threadpool(mark_stopped, self.platform, m.namespace, m.name, reason)
            await self._halt(m)
            m.phase, m.message = "Stopped", reason

    # -- side effects -----------------------------------------------------------------------
    def _platform_url(self) -> str | None:
        if self._url is None:
            from flowyard.platform.server import read_state

            state = read_state(self.platform.settings)
            if state is not None and state.get("pid") == os.getpid():
                self._url = str(state["url"])
        return self._url

    def _mint_token(self, m: Managed) -> str | None:
        """A fresh token of the notebook's service user (edit in its profile only)."""
        auth = self.platform.auth
        user = service_user(m.namespace, m.name)
        if auth.lookup(user) is not None:
            auth.delete_user(user, successor="admin")  # its old tokens die with it
        if auth.profile_owner(m.namespace) is None:
            return None  # a namespace without a profile: only admins may act there
        auth.create_user(user)
        auth.set_member(m.namespace, user, "edit")
        return auth.create_token(user, f"kernels of notebook {m.namespace}/{m.name}")

    def _drop_token(self, m: Managed) -> None:
        auth = self.platform.auth
        user = service_user(m.namespace, m.name)
        if auth.lookup(user) is not None:
            auth.delete_user(user, successor="admin")

    def _attach_volumes(self, m: Managed, notebook: Notebook) -> Path | Literal[False] | None:
        """Claim the workspace volume and the mounted volumes; the workspace folder (None:
        the notebook's own). False when a volume is not ready yet (status says which)."""
        spec = notebook.spec
        names = [(v.name, "ro" if v.read_only else "rw") for v in spec.volumes]
        if spec.workspace:
            names.append((spec.workspace, "rw"))
        if not names:
            return None
        from flowyard.volumes import attach, release

        holder = f"notebook/{m.name}"
        home = self.platform.settings.home
        attached: list[str] = []
        workspace: Path | None = None
        try:
            for volume, mode in names:
                got = attach(self.platform.metadata, home, m.namespace, volume, holder, mode)
                attached.append(volume)
                if got.phase != "Ready":
                    raise _NotReady(f"waiting for volume {volume!r} (phase {got.phase})")
                if volume == spec.workspace:
                    workspace = got.path
        except (_NotReady, Conflict) as exc:
            for volume in attached:
                release(self.platform.metadata, m.namespace, volume, holder)
            # Both pass by themselves (the volume gets ready, the other writer stops).
            m.phase = "Pending" if isinstance(exc, _NotReady) else "Failed"
            m.message = str(exc) + ("" if isinstance(exc, _NotReady)
                                    else f"; retrying every {self.activity_interval:g}s")
            m.next_start = time.monotonic() + self.activity_interval
            return False
        except NotFound:
            for volume in attached:
                release(self.platform.metadata, m.namespace, volume, holder)
            raise
        m.volumes = attached
        return workspace

    def _link_volumes(self, m: Managed, notebook: Notebook) -> None:
        """Locally a mount is a link in the workspace: mountPath /data -> <workspace>/data."""
        from flowyard.volumes.folders import volume_path

        server = m.server
        assert server is not None
        for mount in notebook.spec.volumes:
            link = server.workspace / mount.mount_path.strip("/")
            target = volume_path(self.platform.settings.home, m.namespace, mount.name)
            try:
                if link.is_symlink():
                    link.unlink()
                if not link.exists():
                    link.parent.mkdir(parents=True, exist_ok=True)
                    link.symlink_to(target, target_is_directory=True)
            except OSError as exc:
                log.warning("Notebook %s/%s: cannot link volume %s at %s: %s", m.namespace,
                            m.name, mount.name, link, exc)

    def _release_volumes(self, m: Managed) -> None:
        if not m.volumes:
            return
        from flowyard.volumes import release

        for volume in m.volumes:
            try:
                release(self.platform.metadata, m.namespace, volume, f"notebook/{m.name}")
            except FlowyardError as exc:
                log.warning("Notebook %s/%s: releasing volume %s: %s", m.namespace, m.name,
                            volume, exc)
        m.volumes = []

    async def _halt(self, m: Managed) -> None:
        """Stop the server (and any environment preparation wait), keep the workspace."""
        if m.prepare is not None:
            m.prepare = None  # the preparation goes on for others; its venv is reused later
        if m.server is not None:
            await run_in_threadpool(self.spawner.stop, m.namespace, m.name)
            m.server, m.ready = None, False
        await run_in_threadpool(self._release_volumes, m)
        m.last_activity = None

    async def _forget(self, m: Managed) -> None:
        await self._halt(m)
        await run_in_threadpool(self._drop_token, m)
        log.info("Notebook %s/%s deleted: server stopped, workspace kept", *m.key)

    async def _write_status(self, m: Managed) -> None:
        from flowyard.notebooks.spawner import base_url

        path = base_url(m.namespace, m.name)
        url = self._url
        status: dict[str, Any] = {
            "phase": m.phase, "ready": m.ready, "path": path,
            "url": (url + path) if url else None, "environment": m.environment or None,
            "message": m.message, "lastActivity": m.last_activity,
            "startedAt": m.started_at if m.server is not None else None,
            "pid": m.server.process.pid if m.server is not None else None,
            "restarts": m.restarts, "observedGeneration": m.generation}
        if status == m.status:
            return
        m.status = status
        await run_in_threadpool(self._store_status, m.namespace, m.name, status)

    def _store_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        meta = self.platform.metadata
        with self.write_lock:
            try:
                body = meta.get_resource(KIND, namespace, name)
            except NotFound:
                return
            if body.get("status") != status:
                meta.put_resource(KIND, namespace, name, {**body, "status": status})

    async def shutdown(self) -> None:
        for m in self.managed.values():
            m.prepare = None
        for proc in self._preparing.values():
            await run_in_threadpool(procs.stop, proc)  # its half-made venv is redone later
        self._preparing.clear()
        if self._spawner is not None:
            await run_in_threadpool(self._spawner.stop_all)
        for m in self.managed.values():
            self._release_volumes(m)
        if self._client is not None:
            await self._client.aclose()


def _log_tail(path: Path, lines: int) -> str:
    from flowyard.notebooks.spawner import log_tail

    return log_tail(path, lines)


class _NotReady(Exception):
    pass


def mark_stopped(platform: Platform, namespace: str, name: str, reason: str) -> dict[str, Any]:
    """Set the stopped annotation (the controller stops the server on its next pass)."""
    meta = platform.metadata
    with platform.notebooks.write_lock:
        body = meta.get_resource(KIND, namespace, name)
        notes = body.setdefault("metadata", {}).setdefault("annotations", {})
        notes[STOPPED] = now_iso()
        notes[STOP_REASON] = reason  # not in status: the controller rewrites that whole
        meta.put_resource(KIND, namespace, name, body)
        return meta.get_resource(KIND, namespace, name)


def mark_started(platform: Platform, namespace: str, name: str, *,
                 restart: bool = False) -> dict[str, Any]:
    """Clear the stopped annotation (and with `restart`, ask for a fresh server)."""
    meta = platform.metadata
    with platform.notebooks.write_lock:
        body = meta.get_resource(KIND, namespace, name)
        notes = body.setdefault("metadata", {}).setdefault("annotations", {})
        notes.pop(STOPPED, None)
        notes.pop(STOP_REASON, None)
        if restart:
            notes[RESTARTED] = datetime.now(UTC).isoformat(timespec="microseconds")
        meta.put_resource(KIND, namespace, name, body)
        return meta.get_resource(KIND, namespace, name)
