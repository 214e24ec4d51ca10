"""Typed, read-only views the client hands out: a run, its steps, its artifacts.

They are detached from the store: plain data plus (for `Run`) a back-reference to the client
so that `run.wait()` and `run.refresh()` work on either transport.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flowyard.errors import FlowyardError

if TYPE_CHECKING:
    from flowyard.client.client import Client
    from flowyard.store.records import ArtifactRecord, RunRecord, StepRecord

TERMINAL_RUN_STATES = frozenset({"Succeeded", "Failed", "Cancelled"})
TERMINAL_STEP_STATES = frozenset(
    {"Succeeded", "Cached", "Failed", "Skipped", "Omitted", "Cancelled"}
)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds())


@dataclass(frozen=True, slots=True)
class RunStep:
    """One step of a run (one loop iteration of a looped step)."""

    id: str
    name: str
    component: str
    state: str
    iteration: int | None = None
    attempt: int = 0
    cache_hit: bool = False
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    output_artifacts: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    exit_code: int | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @classmethod
    def from_record(cls, record: StepRecord) -> RunStep:
        return cls(
            id=record.id, name=record.name, component=record.component, state=record.state,
            iteration=record.iteration, attempt=record.attempt, cache_hit=record.cache_hit,
            inputs=dict(record.inputs), outputs=dict(record.outputs),
            output_artifacts=dict(record.output_artifacts), error=record.error,
            exit_code=record.exit_code, started_at=record.started_at,
            finished_at=record.finished_at,
        )

    @property
    def duration(self) -> float | None:
        return _seconds(self.started_at, self.finished_at)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "component": self.component,
            "state": self.state, "iteration": self.iteration, "attempt": self.attempt,
            "cacheHit": self.cache_hit, "inputs": self.inputs, "outputs": self.outputs,
            "outputArtifacts": self.output_artifacts, "error": self.error,
            "exitCode": self.exit_code, "startedAt": _iso(self.started_at),
            "finishedAt": _iso(self.finished_at), "duration": self.duration,
        }


@dataclass(frozen=True, slots=True)
class ArtifactInfo:
    """An artifact a step produced; its bytes live in the object store under `digest`."""

    id: str
    run_id: str
    step_id: str
    name: str
    type: str
    digest: str
    size: int
    is_tree: bool = False
    uri: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None

    @classmethod
    def from_record(cls, record: ArtifactRecord) -> ArtifactInfo:
        return cls(
            id=record.id, run_id=record.run_id, step_id=record.step_id, name=record.name,
            type=record.type, digest=record.digest, size=record.size, is_tree=record.is_tree,
            uri=record.uri, metadata=dict(record.metadata), created_at=record.created_at,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "runId": self.run_id, "stepId": self.step_id, "name": self.name,
            "type": self.type, "digest": self.digest, "size": self.size,
            "isTree": self.is_tree, "uri": self.uri, "metadata": self.metadata,
            "createdAt": _iso(self.created_at),
        }


@dataclass(slots=True)
class Run:
    """A pipeline run as the client sees it. `wait()` blocks until it reaches a final state."""

    id: str
    pipeline: str
    namespace: str
    state: str
    parameters: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    steps: list[RunStep] = field(default_factory=list)
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    driver_pid: int | None = None      # the process driving it (while Running) and its host
    driver_host: str | None = None
    client: Client | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_record(
        cls, record: RunRecord, steps: list[StepRecord] | None = None,
        client: Client | None = None,
    ) -> Run:
        return cls(
            id=record.id, pipeline=record.pipeline_name, namespace=record.namespace,
            state=record.state, parameters=dict(record.parameters),
            outputs=dict(record.outputs), error=record.error, options=dict(record.options),
            labels=dict(record.labels),
            steps=[RunStep.from_record(s) for s in steps or []],
            created_at=record.created_at, started_at=record.started_at,
            finished_at=record.finished_at, driver_pid=record.driver_pid,
            driver_host=record.driver_host, client=client,
        )

    @property
    def done(self) -> bool:
        return self.state in TERMINAL_RUN_STATES

    @property
    def succeeded(self) -> bool:
        return self.state == "Succeeded"

    @property
    def duration(self) -> float | None:
        return _seconds(self.started_at or self.created_at, self.finished_at)

    def step(self, step_id: str) -> RunStep:
        for step in self.steps:
            if step.id == step_id:
                return step
        known = ", ".join(s.id for s in self.steps) or "none"
        from flowyard.errors import NotFound

        raise NotFound(f"run {self.id!r} has no step {step_id!r}; steps: {known}")

    def refresh(self) -> Run:
        """Reload state, outputs and steps from the client, in place."""
        fresh = self._client().get_run(self.id)
        for name in ("state", "outputs", "error", "steps", "started_at", "finished_at"):
            setattr(self, name, getattr(fresh, name))
        return self

    def wait(self, timeout: float | None = None, *, poll: float = 0.25) -> Run:
        """Block until the run is Succeeded, Failed or Cancelled (or `timeout` seconds)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.done:
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"run {self.id} still {self.state} after {timeout}s")
            time.sleep(poll)
            self.refresh()
        return self

    def raise_for_state(self) -> Run:
        """Raise RunFailed unless the run succeeded (the httpx `raise_for_status` habit)."""
        if self.state != "Succeeded":
            from flowyard.errors import RunFailed

            failed = [s.id for s in self.steps if s.state == "Failed"]
            where = f" (failed steps: {', '.join(failed)})" if failed else ""
            raise RunFailed(
                f"run {self.id} of pipeline {self.pipeline!r} is {self.state}{where}"
                + (f": {self.error}" if self.error else ""),
                hint=f"flowyard runs logs {self.id}",
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "pipeline": self.pipeline, "namespace": self.namespace,
            "state": self.state, "parameters": self.parameters, "outputs": self.outputs,
            "error": self.error, "options": self.options, "labels": self.labels,
            "createdAt": _iso(self.created_at), "startedAt": _iso(self.started_at),
            "finishedAt": _iso(self.finished_at), "duration": self.duration,
            "steps": [s.to_dict() for s in self.steps],
        }

    def _client(self) -> Client:
        if self.client is None:
            raise FlowyardError(f"run {self.id} is detached from any client; use Client.get_run")
        return self.client
