"""InferenceGraphs as managed `python -m flowyard.serving` processes on loopback ports.

Each reconcile pass compares the stored graphs with the running processes: a new or
changed graph (generation) is (re)started, a deleted one stopped, a crashed one restarted
with a growing back-off. Readiness is the V2 `/v2/health/ready` endpoint; the outcome is
written back to the resource's status (`ready`, `url`, `reason`, `pid`, `restarts`).
"""

from __future__ import annotations

import logging
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowyard.client.embedded import settings_env
from flowyard.errors import NotFound
from flowyard.platform import procs

if TYPE_CHECKING:
    import httpx

    from flowyard.platform.runtime import Platform

log = logging.getLogger("flowyard.platform.serving")
KIND = "InferenceGraph"
MAX_BACKOFF = 30.0
# How many worker processes serve a graph (uvicorn workers sharing its port), as KServe
# takes deployment options from annotations; the spec stays what every runtime renders.
WORKERS_ANNOTATION = "flowyard.dev/workers"
MAX_WORKERS = 32


class BadWorkers(ValueError):
    """The workers annotation is not a whole number in range."""


def workers_of(body: dict[str, Any]) -> int:
    """The graph's worker count: its `flowyard.dev/workers` annotation, default 1."""
    notes = (body.get("metadata") or {}).get("annotations") or {}
    raw = notes.get(WORKERS_ANNOTATION)
    if raw is None:
        return 1
    text = str(raw).strip()
    if not text.isdigit() or not 1 <= int(text) <= MAX_WORKERS:
        raise BadWorkers(f"metadata.annotations[{WORKERS_ANNOTATION!r}]: {raw!r} is not a "
                         f"whole number from 1 to {MAX_WORKERS}; set it to the number of "
                         f"serving processes (e.g. \"2\") or remove it for one")
    return int(text)


@dataclass
class Endpoint:
    namespace: str
    name: str
    generation: int
    port: int
    proc: subprocess.Popen[bytes]
    restarts: int = 0
    workers: int = 1
    ready: bool = False
    next_start: float = 0.0
    status: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class ServingController:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.endpoints: dict[tuple[str, str], Endpoint] = {}
        self._client: httpx.AsyncClient | None = None

    @property
    def _http(self) -> httpx.AsyncClient:
        # Made on first use: with no graph, `flowyard up` need not import httpx (and the
        # rich console its CLI pulls in).
        if self._client is None:
            import httpx

            self._client = httpx.AsyncClient(timeout=1.0)
        return self._client

    async def reconcile(self) -> None:
        meta = self.platform.metadata
        wanted = {(b["metadata"]["namespace"], b["metadata"]["name"]): b
                  for b in meta.list_resources(KIND)}
        for key in list(self.endpoints):
            if key not in wanted:
                procs.stop(self.endpoints.pop(key).proc)
                log.info("InferenceGraph %s/%s deleted: endpoint stopped", *key)
        for key, body in wanted.items():
            generation = int(body["metadata"].get("generation") or 1)
            ep = self.endpoints.get(key)
            try:
                workers = workers_of(body)
            except BadWorkers as exc:  # not started: the status says why and how to fix it
                if ep is not None:
                    procs.stop(self.endpoints.pop(key).proc)
                self._refuse(key, body, generation, str(exc))
                continue
            if ep is None or ep.generation != generation or ep.workers != workers:
                if ep is not None:
                    procs.stop(ep.proc)
                ep = self._start(key, body, generation, restarts=0)
                self.endpoints[key] = ep
            await self._check(ep, body)

    def _refuse(self, key: tuple[str, str], body: dict[str, Any], generation: int,
                reason: str) -> None:
        status = {"ready": False, "reason": reason, "observedGeneration": generation}
        if body.get("status") != status:
            log.warning("InferenceGraph %s/%s not started: %s", *key, reason)
            self.platform.metadata.put_resource(KIND, *key, {**body, "status": status})

    def _start(self, key: tuple[str, str], body: dict[str, Any], generation: int, *,
               restarts: int) -> Endpoint:
        from flowyard.resources.loader import dump_yaml, parse_resource

        namespace, name = key
        settings = self.platform.settings
        folder = settings.ensure_home() / "platform" / "serving" / namespace
        folder.mkdir(parents=True, exist_ok=True)
        graph_file = folder / f"{name}.yaml"
        log_file = self._log_path(namespace, name)
        resource = parse_resource({k: v for k, v in body.items() if k != "status"})
        graph_file.write_text(dump_yaml([resource]), encoding="utf-8")
        port = procs.free_port()
        workers = workers_of(body)
        proc = procs.spawn(
            ["-m", "flowyard.serving", str(graph_file), "--host", "127.0.0.1",
             "--port", str(port), "--state-dir", str(folder / f"{name}.state"),
             "--workers", str(workers)],
            log=log_file, env=settings_env(settings))
        log.info("InferenceGraph %s/%s: serving process %d on port %d (%d worker%s)",
                 namespace, name, proc.pid, port, workers, "s" if workers > 1 else "")
        return Endpoint(namespace, name, generation, port, proc, restarts=restarts,
                        workers=workers)

    async def _check(self, ep: Endpoint, body: dict[str, Any]) -> None:
        code = ep.proc.poll()
        if code is not None:
            if time.monotonic() < ep.next_start:
                return
            delay = min(MAX_BACKOFF, 0.5 * 2 ** ep.restarts)
            log.warning("InferenceGraph %s/%s: process exited with %s; restarting",
                        ep.namespace, ep.name, code)
            try:
                fresh = self._start((ep.namespace, ep.name), body, ep.generation,
                                    restarts=ep.restarts + 1)
            except BadWorkers:
                return  # the next pass refuses it with the reason

            fresh.next_start = time.monotonic() + delay
            last = _last_line(self._log(ep))
            fresh.status = {"ready": False,
                            "reason": f"serving process exited with code {code}"
                                      + (f": {last}" if last else "") + "; restarted"}
            self.endpoints[(ep.namespace, ep.name)] = fresh
            self._write_status(fresh)
            return
        import httpx

        said = ""
        try:
            answer = await self._http.get(f"{ep.url}/v2/health/ready")
            ready = answer.status_code == 200
            if not ready:
                said = str(answer.json().get("reason") or "")
        except (httpx.HTTPError, ValueError, AttributeError):
            ready = False
        reason = "" if ready else (said or ep.status.get("reason") or "starting")
        status = {"ready": ready, "url": ep.url, "reason": reason, "pid": ep.proc.pid,
                  "restarts": ep.restarts, "observedGeneration": ep.generation}
        if status != ep.status:
            ep.status = status
            ep.ready = ready
            self._write_status(ep)

    def _log_path(self, namespace: str, name: str) -> Path:
        return self.platform.settings.home / "platform" / "serving" / namespace / f"{name}.log"

    def _log(self, ep: Endpoint) -> Path:
        return self._log_path(ep.namespace, ep.name)

    def _write_status(self, ep: Endpoint) -> None:
        meta = self.platform.metadata
        try:
            body = meta.get_resource(KIND, ep.namespace, ep.name)
        except NotFound:
            return
        status = dict(ep.status)
        status.setdefault("url", ep.url)
        if body.get("status") != status:
            meta.put_resource(KIND, ep.namespace, ep.name, {**body, "status": status})

    async def shutdown(self) -> None:
        for ep in self.endpoints.values():
            procs.stop(ep.proc)
        self.endpoints.clear()
        if self._client is not None:
            await self._client.aclose()


def _last_line(log: Path) -> str:
    """The last non-empty line of a log (what a crashed serving process said last)."""
    try:
        with open(log, "rb") as handle:
            handle.seek(0, 2)
            handle.seek(max(0, handle.tell() - 4096))
            lines = [ln for ln in handle.read().decode("utf-8", "replace").splitlines()
                     if ln.strip()]
    except OSError:
        return ""
    return lines[-1].strip()[:500] if lines else ""
