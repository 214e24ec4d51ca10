"""The in-process transport: the metadata store, the object store and the engine, here.

Everything is built lazily on first use, so a `Client()` that only loads or compiles
pipelines never touches FLOWYARD_HOME. Detached runs (`wait=False`) are driven by a child
process (`python -m flowyard.client.driver`) in its own session, so they outlive the CLI.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowyard.errors import Conflict, InvalidInput, NotFound

if TYPE_CHECKING:
    from flowyard.client.transport import DriverMode, EventCallback
    from flowyard.pipelines.engine import Engine
    from flowyard.resources.pipeline import Pipeline
    from flowyard.settings import Settings
    from flowyard.store.metadata import MetadataStore
    from flowyard.store.objects import ObjectStore
    from flowyard.store.records import ArtifactRecord, RunRecord, StepRecord


def settings_env(settings: Settings) -> dict[str, str]:
    """The FLOWYARD_* variables that recreate `settings` in a child process."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump().items():
        if value is not None:
            env[f"FLOWYARD_{name.upper()}"] = str(value)
    return env


class EmbeddedTransport:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._metadata: MetadataStore | None = None
        self._objects: ObjectStore | None = None
        self._engine: Engine | None = None

    # wiring -------------------------------------------------------------------------------
    @property
    def metadata(self) -> MetadataStore:
        if self._metadata is None:
            from flowyard.store.metadata import MetadataStore

            # Logs always live under home, whatever the database: prove it is writable first
            # so that the error names FLOWYARD_HOME rather than a SQLite message.
            self.settings.ensure_home()
            self._metadata = MetadataStore.from_settings(self.settings)
        return self._metadata

    @property
    def objects(self) -> ObjectStore:
        if self._objects is None:
            from flowyard.store.objects import ObjectStore

            self.settings.ensure_home()
            self._objects = ObjectStore.from_settings(self.settings)
        return self._objects

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            from flowyard.pipelines.engine.pool import ZygotePool

            # Boot the step zygote first (stdlib-only import), so that its interpreter
            # start overlaps with loading the engine and opening the database below.
            pool = ZygotePool()
            pool.start()
            try:
                from flowyard.pipelines.engine import Engine

                self._engine = Engine(self.metadata, self.objects, self.settings, pool=pool)
            except BaseException:
                pool.close()
                raise
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None
        if self._metadata is not None:
            self._metadata.close()
            self._metadata = None
        self._objects = None

    # resources ----------------------------------------------------------------------------
    def put_resource(self, kind: str, namespace: str, name: str, body: dict[str, Any]) -> int:
        # The server's apply, here: keep the status and the other server-owned fields.
        from flowyard.resources.applying import apply_resource

        generation, _ = apply_resource(self.metadata, kind, namespace, name, body)
        return generation

    def get_resource(self, kind: str, namespace: str, name: str) -> dict[str, Any]:
        return self.metadata.get_resource(kind, namespace, name)

    def list_resources(
        self, kind: str, namespace: str | None, labels: dict[str, str] | None
    ) -> list[dict[str, Any]]:
        return self.metadata.list_resources(kind, namespace, labels)

    def delete_resource(self, kind: str, namespace: str, name: str) -> None:
        self.metadata.delete_resource(kind, namespace, name)

    # runs ---------------------------------------------------------------------------------
    def submit(
        self,
        pipeline: Pipeline,
        parameters: Mapping[str, Any],
        *,
        cache: bool,
        namespace: str | None,
        labels: dict[str, str] | None,
    ) -> RunRecord:
        return self.engine.submit(
            pipeline, parameters, cache=cache, namespace=namespace, labels=labels
        )

    def execute(self, run_id: str, *, on_event: EventCallback | None) -> RunRecord:
        return self.engine.execute(run_id, on_event=on_event)

    def retry(self, run_id: str, *, on_event: EventCallback | None) -> RunRecord:
        return self.engine.retry(run_id, on_event=on_event)

    def resume(self, run_id: str, *, on_event: EventCallback | None) -> RunRecord:
        return self.engine.resume(run_id, on_event=on_event)

    def cancel(self, run_id: str) -> RunRecord:
        return self.engine.cancel(run_id)

    def start(self, run_id: str, mode: DriverMode) -> None:
        log_dir = self.settings.ensure_home() / "logs" / run_id
        log_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **settings_env(self.settings)}
        with open(log_dir / "driver.log", "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "flowyard.client.driver", mode, run_id],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=env, start_new_session=True, close_fds=True,
            )
        # Reap it when it ends so a long-lived caller (a notebook) collects no zombies; the
        # driver itself lives on in its own session if this process exits first.
        threading.Thread(target=proc.wait, name=f"flowyard-reap-{run_id}", daemon=True).start()

    def get_run(self, run_id: str) -> RunRecord:
        return self.metadata.get_run(run_id)

    def list_runs(
        self, *, namespace: str | None, pipeline: str | None, state: str | None, limit: int
    ) -> list[RunRecord]:
        return self.metadata.list_runs(
            namespace=namespace, pipeline=pipeline, state=state, limit=limit
        )

    def get_steps(self, run_id: str) -> list[StepRecord]:
        self.metadata.get_run(run_id)  # NotFound for an unknown run, not an empty list
        return self.metadata.get_steps(run_id)

    # artifacts and logs -------------------------------------------------------------------
    def list_artifacts(self, run_id: str) -> list[ArtifactRecord]:
        self.metadata.get_run(run_id)
        return self.metadata.list_artifacts(run_id=run_id)

    def get_artifact(self, artifact_id: str) -> ArtifactRecord:
        return self.metadata.get_artifact(artifact_id)

    def read_artifact(self, artifact_id: str) -> bytes:
        record = self.metadata.get_artifact(artifact_id)
        if record.is_tree:
            raise InvalidInput(
                f"artifact {artifact_id} ({record.name!r} of step {record.step_id!r}) is a "
                "directory, not one file",
                hint=f"flowyard runs download {artifact_id} DEST",
            )
        return self.objects.get_bytes(record.digest)

    def download_artifact(self, artifact_id: str, dest: Path) -> Path:
        record = self.metadata.get_artifact(artifact_id)
        target = dest / record.name if dest.is_dir() else dest
        if target.exists():
            raise Conflict(
                f"cannot download artifact {artifact_id} to {target}: it already exists",
                hint="choose a new path or remove the existing one",
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        return self.objects.materialize(record.digest, target)

    def read_log(self, run_id: str, step_id: str, offset: int) -> bytes:
        step = self.metadata.get_step(run_id, step_id)
        data = self._step_log(step, offset)
        if data or offset or not step.cache_hit or not step.cache_key:
            return data
        # A cache hit did no work of its own: show the log of the step that did.
        entry = self.metadata.cache_get(step.cache_key)
        if entry is None or (entry.run_id, entry.step_id) == (run_id, step_id):
            return b""
        try:
            source = self.metadata.get_step(entry.run_id, entry.step_id)
        except NotFound:
            return b""
        header = f"--- cache hit: log of run {entry.run_id}, step {entry.step_id} ---\n"
        return header.encode() + self._step_log(source, 0)

    def _step_log(self, step: StepRecord, offset: int) -> bytes:
        if step.log_path and os.path.exists(step.log_path):
            with open(step.log_path, "rb") as handle:
                handle.seek(offset)
                return handle.read()
        if step.log_digest:
            return self.objects.get_bytes(step.log_digest)[offset:]
        return b""
