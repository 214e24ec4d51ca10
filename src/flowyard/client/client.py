"""`flowyard.Client`: one interface to runs, resources and artifacts, whatever the transport."""

from __future__ import annotations

import builtins
import codecs
import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any

from flowyard.client.views import TERMINAL_RUN_STATES, ArtifactInfo, Run, RunStep
from flowyard.errors import ConfigError, FlowyardError, InvalidInput, NotFound

if TYPE_CHECKING:
    from flowyard.client.notebooks import Notebooks
    from flowyard.client.transport import Transport
    from flowyard.data import DataStore
    from flowyard.pipelines.engine import RunEvent
    from flowyard.resources.base import Resource
    from flowyard.resources.pipeline import Pipeline
    from flowyard.settings import Settings

PipelineLike = Any
"""A `Pipeline`, a `@dsl.pipeline` function, a target string 'file.py:name' / 'file.yaml',
a Path, or a Pipeline resource as a dict."""


def settings_from_env() -> Settings:
    from pydantic import ValidationError

    from flowyard.settings import Settings

    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"FLOWYARD_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}",
                          hint="see docs/configuration.md") from exc


class Client:
    """Runs pipelines and reads their results.

    `Client()` uses the embedded runtime configured by FLOWYARD_* settings (SQLite and the
    local object store under FLOWYARD_HOME by default). `Client(server=URL)` (or
    FLOWYARD_SERVER) talks to a Flowyard platform over HTTP; `transport=` plugs in any
    `Transport` (tests, other backends).
    """

    def __init__(
        self,
        server: str | None = None,
        token: str | None = None,
        settings: Settings | None = None,
        *,
        transport: Transport | None = None,
    ) -> None:
        self._settings = settings
        login = None
        if transport is None:
            with contextlib.suppress(ConfigError):  # bad settings are reported where used
                home = self.settings.home
                # flowyard.client.http imports httpx (35-80 ms, a tenth of a short embedded
                # run): only when there is a login (http.LOGIN_FILE) to read.
                if (home / "login.json").exists():
                    from flowyard.client.http import load_login

                    login = load_login(home)  # from `flowyard login URL`
        server = server or os.environ.get("FLOWYARD_SERVER") or (login and login[0]) or None
        self.server = server
        self.token = token
        if transport is None:
            if server:
                from flowyard.client.http import HttpTransport

                # The stored token only goes to the server it was issued by.
                stored = login[1] if login and login[0] == server.rstrip("/") else None
                self.token = token or os.environ.get("FLOWYARD_TOKEN") or stored
                transport = HttpTransport(server, self.token)
            else:
                from flowyard.client.embedded import EmbeddedTransport

                transport = EmbeddedTransport(self.settings)
        self.transport: Transport = transport

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = settings_from_env()
        return self._settings

    # lifecycle ----------------------------------------------------------------------------
    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # pipelines as files (no runtime state needed) -----------------------------------------
    @staticmethod
    def load(pipeline: PipelineLike) -> Pipeline:
        """A `Pipeline` from any accepted form (see `PipelineLike`)."""
        from flowyard.client import files

        return files.load_pipeline(pipeline)

    @staticmethod
    def compile(pipeline: PipelineLike) -> str:
        """The pipeline as a YAML resource document."""
        from flowyard.client import files

        return files.to_yaml([files.load_pipeline(pipeline)])

    @staticmethod
    def validate(paths: Iterable[str | Path]) -> builtins.list[Resource[Any]]:
        """Load and validate every resource in the files and folders; all problems at once."""
        from flowyard.client import files

        return files.validate_paths([Path(p) for p in paths])

    # stored resources ---------------------------------------------------------------------
    def apply(
        self, resources: Resource[Any] | Iterable[Resource[Any]] | Mapping[str, Any]
    ) -> builtins.list[Resource[Any]]:
        """Store (create or update) resources; each comes back with its generation set."""
        from flowyard.client import files

        items = files.as_resources(resources)
        applied: builtins.list[Resource[Any]] = []
        for res in items:
            stored = res.model_copy(deep=True)
            if "namespace" not in res.metadata.model_fields_set:
                stored.metadata.namespace = self.settings.namespace  # FLOWYARD_NAMESPACE
            generation = self.transport.put_resource(
                stored.kind, stored.namespace, stored.name, stored.to_dict()
            )
            stored.metadata.generation = generation
            applied.append(stored)
        return applied

    def get(self, kind: str, name: str, namespace: str | None = None) -> Resource[Any]:
        from flowyard.client import files

        files.resource_class(kind)
        body = self.transport.get_resource(kind, namespace or self.settings.namespace, name)
        return files.parse_resource(body)

    def list(
        self, kind: str, namespace: str | None = None, labels: dict[str, str] | None = None
    ) -> builtins.list[Resource[Any]]:
        from flowyard.client import files

        files.resource_class(kind)
        bodies = self.transport.list_resources(kind, namespace, labels)
        return [files.parse_resource(body) for body in bodies]

    def delete(self, kind: str, name: str, namespace: str | None = None) -> None:
        from flowyard.client import files

        files.resource_class(kind)
        self.transport.delete_resource(kind, namespace or self.settings.namespace, name)

    # versioned data ------------------------------------------------------------------------
    @property
    def data(self) -> DataStore:
        """Data repos of the settings' namespace: the embedded `DataStore`, or the same
        methods over HTTP (`HttpData`) with a server. Closing it leaves this client open."""
        remote = getattr(self.transport, "data", None)  # HttpTransport.data(namespace)
        if remote is not None:
            return remote(self.settings.namespace)  # type: ignore[no-any-return]
        from flowyard.data import DataStore

        return DataStore.from_settings(self.settings)

    # notebooks (on a platform) ------------------------------------------------------------
    @property
    def notebooks(self) -> Notebooks:
        """Create, list, open, stop, start, restart and delete notebooks (needs a server)."""
        from flowyard.client.notebooks import Notebooks

        return Notebooks(self)

    # runs ---------------------------------------------------------------------------------
    def run(
        self,
        pipeline_or_target: PipelineLike,
        parameters: Mapping[str, Any] | None = None,
        *,
        cache: bool = True,
        wait: bool = True,
        on_event: Callable[[RunEvent], None] | None = None,
        namespace: str | None = None,
        labels: dict[str, str] | None = None,
    ) -> Run:
        """Run a pipeline and return the finished `Run` (whatever its state).

        Parameters are checked against the pipeline and converted to the declared types
        (text such as "0.3" is accepted). With `wait=False` a detached process drives the
        run and the returned `Run` is Pending; `run.wait()` blocks until it ends."""
        from flowyard.pipelines.validate import validate_parameters

        pipeline = self.load(pipeline_or_target)
        # Checked and converted here too, so that text values ("0.3") work on any transport
        # and a bad name fails before anything is recorded.
        params = validate_parameters(pipeline, parameters or {})
        if namespace is None and "namespace" not in pipeline.metadata.model_fields_set:
            namespace = self.settings.namespace  # FLOWYARD_NAMESPACE, as `apply` does
        record = self.transport.submit(
            pipeline, params, cache=cache, namespace=namespace, labels=labels
        )
        if not wait:
            self.transport.start(record.id, "execute")
            return Run.from_record(record, [], self)
        return self._drive(record.id, lambda: self.transport.execute(record.id, on_event=on_event))

    def runs(
        self,
        namespace: str | None = None,
        pipeline: str | None = None,
        state: str | None = None,
        limit: int = 50,
    ) -> builtins.list[Run]:
        """Runs, newest first (without their steps; `get_run` has them)."""
        records = self.transport.list_runs(
            namespace=namespace, pipeline=pipeline, state=state, limit=limit
        )
        return [Run.from_record(r, None, self) for r in records]

    def get_run(self, run_id: str) -> Run:
        record = self.transport.get_run(run_id)
        return Run.from_record(record, self.transport.get_steps(record.id), self)

    def steps(self, run_id: str) -> builtins.list[RunStep]:
        return [RunStep.from_record(s) for s in self.transport.get_steps(run_id)]

    def retry(
        self, run_id: str, *, wait: bool = True,
        on_event: Callable[[RunEvent], None] | None = None,
    ) -> Run:
        """Re-run the failed, omitted and cancelled steps of a Failed/Cancelled run."""
        if not wait:
            self._check_retryable(run_id)
            self.transport.start(run_id, "retry")
            return self.get_run(run_id)
        return self._drive(run_id, lambda: self.transport.retry(run_id, on_event=on_event))

    def resume(
        self, run_id: str, *, wait: bool = True,
        on_event: Callable[[RunEvent], None] | None = None,
    ) -> Run:
        """Continue a run whose driver died (or that never started)."""
        if not wait:
            self.transport.start(run_id, "resume")
            return self.get_run(run_id)
        return self._drive(run_id, lambda: self.transport.resume(run_id, on_event=on_event))

    def cancel(self, run_id: str) -> Run:
        self.transport.cancel(run_id)
        return self.get_run(run_id)

    def _check_retryable(self, run_id: str) -> None:
        from flowyard.errors import Conflict

        state = self.transport.get_run(run_id).state
        if state not in ("Failed", "Cancelled"):
            raise Conflict(f"run {run_id} is {state}; only Failed or Cancelled runs can be "
                           "retried")

    def _drive(self, run_id: str, call: Callable[[], Any]) -> Run:
        """Drive a run here; the first Ctrl-C cancels it cleanly, a second one aborts."""
        if threading.current_thread() is not threading.main_thread():
            call()
            return self.get_run(run_id)

        def cancel_in_background(signum: int, frame: FrameType | None) -> None:
            # The driver (this thread) notices the request within half a second, stops the
            # running steps and runs the exit handler; a second Ctrl-C raises as usual.
            signal.signal(signal.SIGINT, signal.default_int_handler)
            sys.stderr.write(f"\ncancelling run {run_id} (Ctrl-C again to abort at once)\n")
            threading.Thread(target=self._cancel_quietly, args=(run_id,),
                             name=f"flowyard-cancel-{run_id}", daemon=True).start()

        previous = signal.signal(signal.SIGINT, cancel_in_background)
        try:
            call()
        finally:
            signal.signal(signal.SIGINT, previous)
        return self.get_run(run_id)

    def _cancel_quietly(self, run_id: str) -> None:
        with contextlib.suppress(FlowyardError):  # it may have finished meanwhile
            self.transport.cancel(run_id)

    # logs -----------------------------------------------------------------------------------
    def logs(
        self, run_id: str, step_id: str | None = None, follow: bool = False, *,
        poll: float = 0.25,
    ) -> Iterator[str]:
        """Log lines of one step, or of every step prefixed with `[step-id] `.

        With `follow=True` new lines are yielded as steps write them, until the run ends.
        """
        offsets: dict[str, int] = {}
        decoders: dict[str, codecs.IncrementalDecoder] = {}
        pending: dict[str, str] = {}
        prefixed = step_id is None

        def lines_of(sid: str, data: bytes, final: bool) -> Iterator[str]:
            decoder = decoders.setdefault(
                sid, codecs.getincrementaldecoder("utf-8")(errors="replace"))
            text = pending.pop(sid, "") + decoder.decode(data, final=final)
            parts = text.split("\n")
            rest = parts.pop()
            if final and rest:
                parts.append(rest)
            elif rest:
                pending[sid] = rest
            for line in parts:
                yield f"[{sid}] {line}" if prefixed else line

        while True:
            state = self.transport.get_run(run_id).state
            steps = self.transport.get_steps(run_id)
            if step_id is not None:
                steps = [s for s in steps if s.id == step_id]
                if not steps:
                    known = ", ".join(s.id for s in self.transport.get_steps(run_id))
                    raise NotFound(f"run {run_id} has no step {step_id!r}",
                                   hint=f"steps: {known or 'none yet'}")
            for step in steps:
                data = self.transport.read_log(run_id, step.id, offsets.get(step.id, 0))
                if data:
                    offsets[step.id] = offsets.get(step.id, 0) + len(data)
                    yield from lines_of(step.id, data, final=False)
            if not follow or state in TERMINAL_RUN_STATES:
                break
            time.sleep(poll)
        for sid in builtins.list(decoders):
            yield from lines_of(sid, b"", final=True)

    # artifacts ----------------------------------------------------------------------------
    def artifacts(self, run_id: str) -> builtins.list[ArtifactInfo]:
        return [ArtifactInfo.from_record(a) for a in self.transport.list_artifacts(run_id)]

    def artifact(self, artifact_id: str) -> ArtifactInfo:
        return ArtifactInfo.from_record(self.transport.get_artifact(artifact_id))

    def read_artifact(self, artifact_id: str) -> bytes:
        return self.transport.read_artifact(artifact_id)

    def download_artifact(self, artifact_id: str, dest: str | Path) -> Path:
        """Write the artifact (file or folder) at `dest`, or inside it when it is a folder."""
        if not str(dest):
            raise InvalidInput("download destination is empty")
        return self.transport.download_artifact(artifact_id, Path(dest))
