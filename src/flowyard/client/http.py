"""The HTTP transport: the same `Transport` methods, served by a Flowyard platform.

`Client(server=URL, token=...)` (or FLOWYARD_SERVER / FLOWYARD_TOKEN) selects it. Server
errors come back as the same `FlowyardError` classes the embedded transport raises, so
callers (the CLI first) cannot tell the transports apart. Waiting runs (`execute`, `retry`,
`resume`) are started on the server and followed by polling, with `RunEvent`s rebuilt from
the step states seen.
"""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import quote

import httpx

from flowyard.errors import ConfigError, Conflict, InvalidInput
from flowyard.platform.codec import decode_error, decode_record

if TYPE_CHECKING:
    from flowyard.client.http_data import HttpData
    from flowyard.client.transport import DriverMode, EventCallback
    from flowyard.resources.pipeline import Pipeline
    from flowyard.store.records import ArtifactRecord, RunRecord, StepRecord

API = "/api/v1alpha1"
POLL = 0.3
TERMINAL = frozenset({"Succeeded", "Failed", "Cancelled"})
STEP_TERMINAL = frozenset({"Succeeded", "Cached", "Failed", "Skipped", "Omitted", "Cancelled"})


LOGIN_FILE = "login.json"


def login_file(home: Path) -> Path:
    """Where `flowyard login` keeps the server URL and token (mode 0600)."""
    return home / LOGIN_FILE


def load_login(home: Path) -> tuple[str, str] | None:
    """(server, token) stored by `flowyard login`, or None."""
    import json

    try:
        data = json.loads(login_file(home).read_text(encoding="utf-8"))
        return str(data["server"]), str(data["token"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save_login(home: Path, server: str, token: str) -> Path:
    import json
    import os

    path = login_file(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Created 0600 before the secret is written; chmod covers a file from an older login.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump({"server": server.rstrip("/"), "token": token}, handle)
    return path


def _plural(kind: str) -> str:
    return kind.lower() + "s"


def _q(part: str) -> str:
    return quote(part, safe="")


class HttpTransport:
    def __init__(self, server: str, token: str | None = None, *, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        if not server.startswith(("http://", "https://")):
            raise ConfigError(f"server URL {server!r} must start with http:// or https://",
                              hint="e.g. --server http://127.0.0.1:8470")
        self.server = server.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=self.server, headers=headers, timeout=timeout,
                                 transport=transport)

    # plumbing -----------------------------------------------------------------------------
    def _call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            answer = self.http.request(method, path, **kw)
        except httpx.TransportError as exc:
            raise ConfigError(f"cannot reach the Flowyard platform at {self.server}: {exc}",
                              hint="start it with `flowyard up`, or check --server / "
                                   "FLOWYARD_SERVER") from exc
        if answer.status_code >= 400:
            self._raise(answer, f"{method} {path}")
        return answer

    @staticmethod
    def _raise(answer: httpx.Response, where: str) -> NoReturn:
        """The FlowyardError an error answer carries (the server's class and hint)."""
        try:
            body: Any = answer.json()
        except ValueError:
            body = answer.text
        raise decode_error(answer.status_code, body, where)

    def _json(self, method: str, path: str, **kw: Any) -> Any:
        return self._call(method, path, **kw).json()

    def close(self) -> None:
        self.http.close()

    def data(self, namespace: str) -> HttpData:
        """Versioned data repos of `namespace` on the platform (the DataStore methods)."""
        from flowyard.client.http_data import HttpData

        return HttpData(self, namespace)

    # resources ----------------------------------------------------------------------------
    def _item(self, kind: str, namespace: str, name: str) -> str:
        return f"{API}/namespaces/{_q(namespace)}/{_plural(kind)}/{_q(name)}"

    def put_resource(self, kind: str, namespace: str, name: str, body: dict[str, Any]) -> int:
        stored = self._json("PUT", self._item(kind, namespace, name), **_body(body))
        return int(stored["metadata"]["generation"])

    def get_resource(self, kind: str, namespace: str, name: str) -> dict[str, Any]:
        body: dict[str, Any] = self._json("GET", self._item(kind, namespace, name))
        return body

    def list_resources(
        self, kind: str, namespace: str | None, labels: dict[str, str] | None
    ) -> list[dict[str, Any]]:
        path = (f"{API}/namespaces/{_q(namespace)}/{_plural(kind)}" if namespace
                else f"{API}/{_plural(kind)}")
        params: dict[str, Any] = {"limit": 500}
        if labels:
            params["labelSelector"] = ",".join(f"{k}={v}" for k, v in labels.items())
        items: list[dict[str, Any]] = []
        while True:
            page = self._json("GET", path, params=params)
            items.extend(page["items"])
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return items
            params["continue"] = token

    def delete_resource(self, kind: str, namespace: str, name: str) -> None:
        self._call("DELETE", self._item(kind, namespace, name))

    # runs ---------------------------------------------------------------------------------
    def _run(self, data: Any) -> RunRecord:
        from flowyard.store.records import RunRecord

        return decode_record(RunRecord, data)

    def submit(
        self,
        pipeline: Pipeline,
        parameters: Mapping[str, Any],
        *,
        cache: bool,
        namespace: str | None,
        labels: dict[str, str] | None,
    ) -> RunRecord:
        from flowyard.resources.origins import origin_of

        if origin_of(pipeline) is not None:
            # The server sees plain data without lines: check here first, so a pipeline
            # read from a file names file:line as the embedded engine's check does.
            from flowyard.pipelines.validate import validate_pipeline

            validate_pipeline(pipeline)
        body = {"pipeline": pipeline.to_dict(), "parameters": dict(parameters),
                "cache": cache, "namespace": namespace, "labels": labels, "start": False}
        return self._run(self._json("POST", f"{API}/runs", **_body(body)))

    def start(self, run_id: str, mode: DriverMode) -> None:
        self._call("POST", f"{API}/runs/{_q(run_id)}/start", params={"mode": mode})

    def execute(self, run_id: str, *, on_event: EventCallback | None) -> RunRecord:
        self.start(run_id, "execute")
        return self._follow(run_id, on_event)

    def retry(self, run_id: str, *, on_event: EventCallback | None) -> RunRecord:
        self.start(run_id, "retry")
        return self._follow(run_id, on_event)

    def resume(self, run_id: str, *, on_event: EventCallback | None) -> RunRecord:
        run = self.get_run(run_id)
        if run.state in TERMINAL:
            raise Conflict(f"run {run_id!r} already finished ({run.state})",
                           hint=f"use retry to re-run its failed steps: flowyard runs retry "
                                f"{run_id}")
        self.start(run_id, "resume")
        return self._follow(run_id, on_event)

    def _follow(self, run_id: str, on_event: EventCallback | None) -> RunRecord:
        """Poll until the run ends, turning step state changes into `RunEvent`s."""
        from flowyard.pipelines.engine.events import RunEvent

        seen: dict[str, str] = {}
        run_state = ""
        while True:
            run = self.get_run(run_id)
            if on_event is not None:
                steps = self.get_steps(run_id)
                done = sum(1 for s in steps if s.state in STEP_TERMINAL)
                if run.state != run_state and run.state not in TERMINAL:
                    on_event(RunEvent(run_id, "run", run.state, total=len(steps), done=done))
                for step in steps:
                    if seen.get(step.id) != step.state:
                        seen[step.id] = step.state
                        message = "cache hit" if step.cache_hit else step.error
                        on_event(RunEvent(run_id, "step", step.state, step_id=step.id,
                                          message=message, total=len(steps), done=done))
                if run.state in TERMINAL:
                    on_event(RunEvent(run_id, "run", run.state, message=run.error,
                                      total=len(steps), done=done))
            run_state = run.state
            if run.state in TERMINAL:
                return run
            time.sleep(POLL)

    def cancel(self, run_id: str) -> RunRecord:
        return self._run(self._json("POST", f"{API}/runs/{_q(run_id)}/cancel"))

    def get_run(self, run_id: str) -> RunRecord:
        return self._run(self._json("GET", f"{API}/runs/{_q(run_id)}"))

    def list_runs(
        self, *, namespace: str | None, pipeline: str | None, state: str | None, limit: int
    ) -> list[RunRecord]:
        params = {k: v for k, v in (("namespace", namespace), ("pipeline", pipeline),
                                    ("state", state)) if v is not None}
        page = self._json("GET", f"{API}/runs", params={**params, "limit": limit})
        return [self._run(item) for item in page["items"]]

    def get_steps(self, run_id: str) -> list[StepRecord]:
        from flowyard.store.records import StepRecord

        page = self._json("GET", f"{API}/runs/{_q(run_id)}/steps")
        return [decode_record(StepRecord, item) for item in page["items"]]

    # artifacts and logs -------------------------------------------------------------------
    def list_artifacts(self, run_id: str) -> list[ArtifactRecord]:
        from flowyard.store.records import ArtifactRecord

        page = self._json("GET", f"{API}/runs/{_q(run_id)}/artifacts")
        return [decode_record(ArtifactRecord, item) for item in page["items"]]

    def get_artifact(self, artifact_id: str) -> ArtifactRecord:
        from flowyard.store.records import ArtifactRecord

        return decode_record(ArtifactRecord,
                             self._json("GET", f"{API}/artifacts/{_q(artifact_id)}"))

    def read_artifact(self, artifact_id: str) -> bytes:
        record = self.get_artifact(artifact_id)
        if record.is_tree:
            raise InvalidInput(
                f"artifact {artifact_id} ({record.name!r} of step {record.step_id!r}) is a "
                "directory, not one file",
                hint=f"flowyard runs download {artifact_id} DEST",
            )
        return self._call("GET", f"{API}/artifacts/{_q(artifact_id)}/content").content

    def download_artifact(self, artifact_id: str, dest: Path) -> Path:
        record = self.get_artifact(artifact_id)
        target = dest / record.name if dest.is_dir() else dest
        if target.exists():
            raise Conflict(
                f"cannot download artifact {artifact_id} to {target}: it already exists",
                hint="choose a new path or remove the existing one",
            )
        data = self._call("GET", f"{API}/artifacts/{_q(artifact_id)}/content").content
        target.parent.mkdir(parents=True, exist_ok=True)
        if not record.is_tree:
            target.write_bytes(data)
            return target
        target.mkdir()
        with tarfile.open(fileobj=io.BytesIO(data), mode="r") as tar:
            tar.extractall(target, filter="data")  # refuses absolute paths and '..'
        return target

    def read_log(self, run_id: str, step_id: str, offset: int) -> bytes:
        return self._call("GET", f"{API}/runs/{_q(run_id)}/steps/{_q(step_id)}/log",
                          params={"offset": offset}).content


def _body(value: Any) -> dict[str, Any]:
    """A JSON request body that may hold non-finite floats (a parameter default of `inf`):
    httpx refuses them, so they travel as the store's marker objects, which the server reads
    back as floats (flowyard.store.values)."""
    from flowyard.store.values import json_dumps

    return {"content": json_dumps(value).encode(),
            "headers": {"Content-Type": "application/json"}}
