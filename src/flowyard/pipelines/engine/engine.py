"""The local engine: submit, execute, resume, retry and cancel pipeline runs.

Steps run in processes forked from one warm zygote per Engine (see zygote.py); scheduling
happens in the calling thread (scheduler.py); all state lives in the MetadataStore, so any
process can inspect, cancel or resume a run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from flowyard import processes
from flowyard.errors import Conflict, InvalidInput
from flowyard.pipelines.engine._graph import dependencies, topological_order
from flowyard.pipelines.engine.events import RunEvent
from flowyard.pipelines.engine.heap import freeze_startup_heap, install_fast_exit
from flowyard.pipelines.engine.pool import ZygotePool
from flowyard.pipelines.engine.preload import preload_modules
from flowyard.pipelines.engine.scheduler import Context, RunDriver
from flowyard.pipelines.validate import validate_parameters, validate_pipeline
from flowyard.resources.pipeline import Pipeline, Step
from flowyard.settings import Settings
from flowyard.store.metadata import MetadataStore
from flowyard.store.objects import ObjectStore
from flowyard.store.records import (
    TERMINAL_RUN_STATES,
    TERMINAL_STEP_STATES,
    RunRecord,
    StepRecord,
)

EventHandler = Callable[[RunEvent], None]
_RERUN_ON_RETRY = frozenset({"Failed", "Omitted", "Cancelled"})


class Engine:
    """Runs pipelines on this machine, each step in its own forked process."""

    def __init__(self, metadata: MetadataStore, objects: ObjectStore, settings: Settings, *,
                 workers: int | None = None, pool: ZygotePool | None = None) -> None:
        """`pool`: a ZygotePool the caller may have started already (the Engine owns it)."""
        if workers is not None and workers < 1:
            raise InvalidInput(f"workers must be at least 1, got {workers}")
        self.metadata = metadata
        self.objects = objects
        self.settings = settings
        self.workers = workers or os.cpu_count() or 1
        self._pool = pool or ZygotePool()
        install_fast_exit()

    # -- submitting -----------------------------------------------------------------------

    def submit(self, pipeline: Pipeline, parameters: Mapping[str, Any] | None = None, *,
               cache: bool = True, namespace: str | None = None,
               labels: dict[str, str] | None = None) -> RunRecord:
        """Validate and record a run (state Pending); nothing runs until `execute`."""
        self._pool.start()   # boots in the background while we validate and record
        validate_pipeline(pipeline)
        self._pool.preload(preload_modules(pipeline.spec))
        values = validate_parameters(pipeline, dict(parameters or {}))
        run = RunRecord(
            id=f"{pipeline.name[:40]}-{uuid.uuid4().hex[:10]}",
            namespace=namespace or pipeline.namespace,
            pipeline_name=pipeline.name,
            pipeline=pipeline.to_dict(),
            parameters=values,
            options={"cache": bool(cache)},
            labels=dict(labels or {}),
        )
        spec = pipeline.spec
        order = topological_order(spec, dependencies(spec))
        steps = {s.name: s for s in spec.all_steps()}
        names = [*order, *([spec.on_exit.name] if spec.on_exit else [])]
        records = [StepRecord(run_id=run.id, id=n, name=n, iteration=None,
                              component=steps[n].component,
                              resources=_resources(steps[n]))
                   for n in names]
        self.metadata.create_run(run, records)
        return run

    def run(self, pipeline: Pipeline, parameters: Mapping[str, Any] | None = None, *,
            cache: bool = True, namespace: str | None = None,
            on_event: EventHandler | None = None) -> RunRecord:
        run = self.submit(pipeline, parameters, cache=cache, namespace=namespace)
        return self.execute(run.id, on_event=on_event)

    # -- driving --------------------------------------------------------------------------

    def execute(self, run_id: str, *, on_event: EventHandler | None = None) -> RunRecord:
        """Drive a Pending run to a terminal state here; inspect `.state` for the outcome."""
        run = self.metadata.get_run(run_id)
        if run.state != "Pending":
            raise Conflict(f"run {run_id!r} is {run.state}, not Pending",
                           hint=f"use resume or retry for run {run_id}")
        return self._drive(run, on_event)

    def _drive(self, run: RunRecord, on_event: EventHandler | None) -> RunRecord:
        ctx = Context(metadata=self.metadata, objects=self.objects, settings=self.settings,
                      pool=self._pool, workers=self.workers)
        driver = RunDriver(ctx, run, on_event)
        freeze_startup_heap()   # no full collection walks the imports during the run
        self._pool.preload(preload_modules(driver.spec))   # a resume in a new process
        resets = driver.build(self.metadata.get_steps(run.id))
        fresh = driver.new_records()
        if resets or fresh:
            self.metadata.save_steps([*resets, *fresh])
        return driver.drive()

    def resume(self, run_id: str, *, on_event: EventHandler | None = None) -> RunRecord:
        """Continue a run whose driver died (or that never started); finished steps stay."""
        run = self.metadata.get_run(run_id)
        if run.state in TERMINAL_RUN_STATES:
            raise Conflict(f"run {run_id!r} already finished ({run.state})",
                           hint=f"use retry to re-run its failed steps: flowyard runs retry "
                                f"{run_id}")
        if run.state == "Running" and driver_alive(run):
            raise Conflict(f"run {run_id!r} is still driven by process {run.driver_pid} on "
                           f"{run.driver_host}",
                           hint="wait for it, or cancel the run first")
        return self._drive(run, on_event)

    def retry(self, run_id: str, *, on_event: EventHandler | None = None) -> RunRecord:
        """Re-run the failed, omitted and cancelled steps of a finished run."""
        run = self.metadata.get_run(run_id)
        if run.state not in ("Failed", "Cancelled"):
            raise Conflict(f"run {run_id!r} is {run.state}; only Failed or Cancelled runs "
                           f"can be retried",
                           hint="resume continues a run whose driver died")
        spec = run.pipeline.get("spec", {})
        # Exit steps run again after the steps they guard: the run's, and each group's.
        exits = {(spec.get("onExit") or {}).get("name")} | {
            s.get("name") for s in spec.get("steps", []) if s.get("trigger") == "allDone"}
        resets: list[StepRecord] = []
        for rec in self.metadata.get_steps(run_id):
            if rec.state in _RERUN_ON_RETRY or (rec.id in exits
                                                and rec.state in TERMINAL_STEP_STATES):
                rec.state = "Pending"
                rec.finished_at = None
                resets.append(rec)
        if resets:
            self.metadata.save_steps(resets)
        options = {k: v for k, v in run.options.items() if k != "cancel_requested"}
        run = self.metadata.update_run(run_id, state="Pending", options=options, error=None,
                                       finished_at=None)
        return self._drive(run, on_event)

    def cancel(self, run_id: str, *, on_event: EventHandler | None = None) -> RunRecord:
        """Ask the driver (in any process) to stop the run; a run without one stops here.

        Without a live driver (never started, or its driver was killed) this process drives
        the stop itself, as that driver would have: nothing left is started, the remaining
        steps are `Cancelled`, and the exit handlers run (they always run). It returns once
        they finished."""
        run = self.metadata.get_run(run_id)
        if run.state in TERMINAL_RUN_STATES:
            raise Conflict(f"run {run_id!r} already finished ({run.state}); nothing to cancel")
        options = {**run.options, "cancel_requested": True}
        if run.state == "Running" and driver_alive(run):
            return self.metadata.update_run(run_id, options=options)
        # The driver's loop sees the flag before it starts any step (scheduler: _loop).
        run = self.metadata.update_run(run_id, options=options)
        return self._drive(run, on_event)

    def close(self) -> None:
        self._pool.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _resources(step: Step) -> dict[str, Any]:
    return step.resources.model_dump(exclude_none=True) if step.resources else {}


def driver_alive(run: RunRecord) -> bool:
    """Whether the process driving `run` still runs (assumed so when it is on another host)."""
    return processes.driver_alive(run.driver_pid, run.driver_host)
