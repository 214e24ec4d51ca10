"""The seam between `Client` and where the work happens.

`Client` speaks only this protocol. `EmbeddedTransport` implements it in-process (SQLite or
PostgreSQL, the local object store, the engine in this process); `HttpTransport`
(client/http.py) talks to the platform's API with the same methods, so the CLI and the SDK
never change.
Records travel as the store's dataclasses; an HTTP transport rebuilds them from JSON.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from flowyard.pipelines.engine import RunEvent
    from flowyard.resources.pipeline import Pipeline
    from flowyard.store.records import ArtifactRecord, RunRecord, StepRecord

EventCallback = Callable[["RunEvent"], None]
DriverMode = Literal["execute", "retry", "resume"]


class Transport(Protocol):
    # stored resources (kind/namespace/name)
    def put_resource(self, kind: str, namespace: str, name: str, body: dict[str, Any]) -> int: ...
    def get_resource(self, kind: str, namespace: str, name: str) -> dict[str, Any]: ...
    def list_resources(
        self, kind: str, namespace: str | None, labels: dict[str, str] | None
    ) -> list[dict[str, Any]]: ...
    def delete_resource(self, kind: str, namespace: str, name: str) -> None: ...

    # runs
    def submit(
        self,
        pipeline: Pipeline,
        parameters: Mapping[str, Any],
        *,
        cache: bool,
        namespace: str | None,
        labels: dict[str, str] | None,
    ) -> RunRecord: ...
    def execute(self, run_id: str, *, on_event: EventCallback | None) -> RunRecord: ...
    def retry(self, run_id: str, *, on_event: EventCallback | None) -> RunRecord: ...
    def resume(self, run_id: str, *, on_event: EventCallback | None) -> RunRecord: ...
    def start(self, run_id: str, mode: DriverMode) -> None:
        """Drive the run to the end somewhere else (a detached driver process, the server)."""
        ...
    def cancel(self, run_id: str) -> RunRecord: ...
    def get_run(self, run_id: str) -> RunRecord: ...
    def list_runs(
        self, *, namespace: str | None, pipeline: str | None, state: str | None, limit: int
    ) -> list[RunRecord]: ...
    def get_steps(self, run_id: str) -> list[StepRecord]: ...

    # artifacts and logs
    def list_artifacts(self, run_id: str) -> list[ArtifactRecord]: ...
    def get_artifact(self, artifact_id: str) -> ArtifactRecord: ...
    def read_artifact(self, artifact_id: str) -> bytes: ...
    def download_artifact(self, artifact_id: str, dest: Path) -> Path: ...
    def read_log(self, run_id: str, step_id: str, offset: int) -> bytes:
        """The step's log from byte `offset` on; empty when there is nothing (yet)."""
        ...

    def close(self) -> None: ...
