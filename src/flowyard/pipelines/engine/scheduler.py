"""Drives one run to a terminal state: the DAG, loops, conditions, retries, timeouts, cache.

One loop in the driving thread owns all run state; while it waits it reads the zygote's
report pipe itself (pool.pump), and reports reach it through its own queue. Readiness is
counted, not polled: each node keeps the set of node ids it waits for, and settling a node
wakes exactly its dependents, so a 1,000-iteration loop costs O(n), not O(n^2).

Every state change is written to the metadata store *before* the engine acts on it (a step
is recorded Running before its task is sent to a process; outputs become visible only through
`finish_step`), so a driver killed at any instant leaves a run `resume` can continue. The
writes of one turn of the loop (a step finishing, the steps that became ready, the next one
starting) go out in one transaction: `flush` runs before a task is sent to a process, before
the loop waits, and before the run record changes, and events are delivered after the commit.
A driver killed between a step's end and that flush leaves the step `Running`, which `resume`
runs again, exactly as if the driver had died a moment earlier.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import json
import os
import queue
import shutil
import socket
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flowyard.pipelines.engine._graph import StepDeps, dependencies, topological_order
from flowyard.pipelines.engine.cache import cache_key
from flowyard.pipelines.engine.conditions import ConditionError, evaluate
from flowyard.pipelines.engine.datarefs import DataRefs, uses_data
from flowyard.pipelines.engine.events import RunEvent
from flowyard.pipelines.engine.nodes import DONE_OK, FAILED_LIKE, Node
from flowyard.pipelines.engine.pool import ProcessReport, ZygotePool
from flowyard.pipelines.engine.resolve import ArtifactRef, ResolveError, Resolver
from flowyard.resources.pipeline import Pipeline, Step
from flowyard.settings import Settings
from flowyard.store.metadata import MetadataStore
from flowyard.store.objects import ObjectStore
from flowyard.store.records import (
    TERMINAL_STEP_STATES,
    ArtifactRecord,
    CacheEntry,
    RunRecord,
    StepRecord,
    utcnow,
)

if TYPE_CHECKING:
    from flowyard.volumes.steps import StepVolumes

CANCEL_POLL = 0.5


@dataclass(frozen=True, slots=True)
class Context:
    metadata: MetadataStore
    objects: ObjectStore
    settings: Settings
    pool: ZygotePool
    workers: int


class RunDriver:
    def __init__(self, ctx: Context, run: RunRecord,
                 on_event: Callable[[RunEvent], None] | None) -> None:
        self.ctx = ctx
        self.md = ctx.metadata
        self.run = run
        self.on_event = on_event
        self.pipeline = Pipeline.model_validate(run.pipeline)
        self.spec = self.pipeline.spec
        self.deps: dict[str, StepDeps] = dependencies(self.spec)
        self.steps = {s.name: s for s in self.spec.all_steps()}
        self.use_cache = bool(run.options.get("cache", True)) and self.spec.cache
        home = ctx.settings.home.expanduser()
        self.log_dir = home / "logs" / run.id
        self.run_dir = home / "runs" / run.id
        self.result_dir = self.run_dir / "results"
        self.nodes: dict[str, Node] = {}
        self.settled: set[str] = set()
        self.dependents: dict[str, list[str]] = {}
        self.ready: deque[Node] = deque()
        self.runnable: deque[Node] = deque()
        self.blocked: dict[str, deque[Node]] = {}
        self.loop_running: dict[str, int] = {}
        self.running: dict[str, Node] = {}
        self.timers: list[tuple[float, int, str, str, int]] = []
        self._seq = itertools.count()
        self.events: queue.Queue[tuple[str, int, ProcessReport]] = queue.Queue()
        self.unsettled = 0
        self.done = 0
        self.stop_state: str | None = None      # "Cancelled" or "Omitted" (deadline)
        self.stop_reason: str | None = None
        self.first_error: str | None = None
        self.artifacts: dict[str, ArtifactRecord] = {}
        self.component_json: dict[str, dict[str, Any]] = {}
        self.component_keys: dict[str, str] = {}
        self.resolver = Resolver(run.parameters, self.nodes, self.deps)
        self.resolver.group_status = self._group_status
        spec_parallelism = self.spec.parallelism or ctx.workers
        self.capacity = max(1, min(ctx.workers, spec_parallelism))
        self.objects_task = self._objects_task()
        self.exit_node: Node | None = None
        self.dirty: dict[str, StepRecord] = {}
        """Step records changed since the last flush, by id (the newest state is written)."""
        self.new_artifacts: list[ArtifactRecord] = []
        self.new_cache: list[CacheEntry] = []
        self.outbox: list[RunEvent] = []
        """Events held until the writes they report are committed."""
        self.datarefs: DataRefs | None = None
        if uses_data(self.spec):
            self.datarefs = DataRefs(ctx.metadata, ctx.objects, ctx.settings, run.id,
                                     self.artifacts, self.run_dir / "data")
            self.resolver.data = self.datarefs.artifact
        self.volumes: StepVolumes | None = None
        if any(step.volumes for step in self.spec.all_steps()):
            from flowyard.volumes.steps import StepVolumes

            self.volumes = StepVolumes(ctx.metadata, ctx.settings, run.id, run.namespace)

    # -- events and records ---------------------------------------------------------------

    def emit(self, kind: str, state: str, step_id: str | None = None,
             message: str | None = None) -> None:
        if self.on_event is None:
            return
        event = RunEvent(run_id=self.run.id, kind="run" if kind == "run" else "step",
                         state=state, step_id=step_id, message=message,
                         total=len(self.nodes), done=self.done)
        if self.dirty or self.outbox:
            self.outbox.append(event)
            return
        with contextlib.suppress(Exception):   # a broken progress bar must not break the run
            self.on_event(event)

    def save(self, *records: StepRecord, artifacts: list[ArtifactRecord] | None = None,
             cache: CacheEntry | None = None) -> None:
        """Queue step writes for the next flush (the same record queued twice is written
        once, in its newest state)."""
        for rec in records:
            self.dirty[rec.id] = rec
        if artifacts:
            self.new_artifacts.extend(artifacts)
        if cache is not None:
            self.new_cache.append(cache)

    def flush(self) -> None:
        """Commit the queued writes in one transaction, then deliver the events they made."""
        if self.dirty or self.new_artifacts or self.new_cache:
            steps, self.dirty = list(self.dirty.values()), {}
            arts, self.new_artifacts = self.new_artifacts, []
            caches, self.new_cache = self.new_cache, []
            self.md.write_batch(steps, arts, caches)
        if self.outbox and self.on_event is not None:
            events, self.outbox = self.outbox, []
            for event in events:
                with contextlib.suppress(Exception):
                    self.on_event(event)

    def _count(self, old: str, new: str) -> None:
        was, now = old in TERMINAL_STEP_STATES, new in TERMINAL_STEP_STATES
        self.done += int(now) - int(was)

    def _set(self, node: Node, state: str, *, error: str | None = None,
             save: bool = True, message: str | None = None) -> None:
        rec = node.record
        self._count(rec.state, state)
        rec.state = state
        if state in TERMINAL_STEP_STATES:
            rec.error = error   # also clears an earlier attempt's error
            rec.finished_at = utcnow()
        elif error is not None:
            rec.error = error
        if save:
            self.save(rec)
        self.emit("step", state, node.id, message or error)

    # -- building the graph ---------------------------------------------------------------

    def _objects_task(self) -> dict[str, Any]:
        url = self.ctx.objects.url
        options: dict[str, Any] = {}
        if url.startswith(("s3://", "s3a://")) and self.ctx.settings.s3_endpoint_url:
            options["client_kwargs"] = {"endpoint_url": self.ctx.settings.s3_endpoint_url}
        return {"url": url, "storage_options": options,
                "cache_dir": str(self.ctx.settings.home.expanduser() / "cache" / "objects")}

    def _new_record(self, step: Step, step_id: str, iteration: int | None) -> StepRecord:
        resources = step.resources.model_dump(exclude_none=True) if step.resources else {}
        return StepRecord(run_id=self.run.id, id=step_id, name=step.name, iteration=iteration,
                          component=step.component, resources=resources)

    def _add_node(self, node: Node, waiting: set[str]) -> None:
        self.nodes[node.id] = node
        if node.record.state in TERMINAL_STEP_STATES:
            self.done += 1
            self.settled.add(node.id)
            if node.is_loop:
                self.settled.add(f"{node.id}#expanded")
            return
        self.unsettled += 1
        node.waiting = {w for w in waiting if w not in self.settled}
        for w in node.waiting:
            self.dependents.setdefault(w, []).append(node.id)
        if not node.waiting:
            self.ready.append(node)

    def build(self, existing: list[StepRecord]) -> list[StepRecord]:
        """Nodes for every step, reusing records of an earlier driver; returns resets."""
        self.existing = {r.id: r for r in existing}
        resets: list[StepRecord] = []
        for rec in existing:
            if rec.state == "Running":
                rec.state = "Pending"   # its process died with the driver: run it again
                resets.append(rec)
        for name in topological_order(self.spec, self.deps):
            step = self.steps[name]
            comp = self.spec.components[step.component]
            rec = self.existing.get(name) or self._new_record(step, name, None)
            deps = self.deps[name]
            if step.for_each is not None:
                node = Node(id=name, step=step, component=comp, record=rec, is_loop=True)
                waits = set(deps.source) | {f"{a}#expanded" for a in deps.iterationwise}
                # Loops that only read other steps' outputs still wait for them to settle
                # before expanding, so a failed upstream omits the loop as a whole.
                waits |= deps.all - deps.iterationwise
            else:
                node = Node(id=name, step=step, component=comp, record=rec)
                waits = set(deps.all)
            self._add_node(node, waits)
        if self.spec.on_exit is not None:
            step = self.spec.on_exit
            rec = self.existing.get(step.name) or self._new_record(step, step.name, None)
            self.exit_node = Node(id=step.name, step=step,
                                  component=self.spec.components[step.component],
                                  record=rec, is_exit=True)
        return resets

    def new_records(self) -> list[StepRecord]:
        recs = [n.record for n in self.nodes.values() if n.record.id not in self.existing]
        if self.exit_node is not None and self.exit_node.id not in self.existing:
            recs.append(self.exit_node.record)
        return recs

    # -- settling -------------------------------------------------------------------------

    def _settle(self, node: Node) -> None:
        if node.id in self.settled:
            return
        self.settled.add(node.id)
        if self.volumes is not None and node.step.volumes:
            self.volumes.release(node.id)
        if node.is_exit:
            return
        self.unsettled -= 1
        if node.is_loop:
            self._mark(f"{node.id}#expanded")
        self._mark(node.id)
        if node.record.state == "Failed" and self.first_error is None and not node.is_loop:
            self.first_error = f"step {node.id!r} failed: {node.record.error}"

    def _mark(self, node_id: str) -> None:
        self.settled.add(node_id)
        for dep_id in self.dependents.pop(node_id, []):
            dep = self.nodes[dep_id]
            dep.waiting.discard(node_id)
            if not dep.waiting and dep_id not in self.settled:
                self.ready.append(dep)

    def _terminal(self, node: Node, state: str, error: str | None = None,
                  message: str | None = None) -> None:
        self._set(node, state, error=error, message=message)
        self._settle(node)

    # -- readiness ------------------------------------------------------------------------

    def _dep_node(self, name: str, node: Node) -> Node:
        if (node.iteration is not None and name in self.deps[node.step.name].iterationwise):
            return self.nodes[f"{name}[{node.iteration}]"]
        return self.nodes[name]

    def _gate(self, node: Node, names: set[str], consumed: set[str]) -> tuple[str, str] | None:
        if node.step.trigger == "allDone":
            names = names & consumed   # its `after` steps may have ended in any state
        for name in sorted(names):
            dep = self._dep_node(name, node)
            if dep.record.state in FAILED_LIKE:
                verb = {"Failed": "failed", "Omitted": "was omitted",
                        "Cancelled": "was cancelled"}[dep.record.state]
                return "Omitted", f"upstream step {dep.id!r} {verb}"
        for name in sorted(consumed):
            dep = self._dep_node(name, node)
            if dep.record.state == "Skipped":
                return "Skipped", f"upstream step {dep.id!r} was skipped"
        return None

    def process_ready(self) -> None:
        while self.ready:
            node = self.ready.popleft()
            if node.id in self.settled:
                continue
            if node.is_loop:
                if node.expanded:
                    self._finish_loop(node)
                else:
                    self._expand(node)
            else:
                self._prepare(node)

    def _expand(self, node: Node) -> None:
        if self.stop_state is not None:
            self._terminal(node, self.stop_state, self.stop_reason)
            return
        deps = self.deps[node.step.name]
        gate = self._gate(node, deps.all - deps.iterationwise, deps.consumed - deps.iterationwise)
        if gate is None:
            for name in sorted(deps.iterationwise):
                up = self.nodes[name]
                if not up.expanded and up.record.state in TERMINAL_STEP_STATES:
                    gate = (("Skipped", f"upstream step {name!r} was skipped")
                            if up.record.state == "Skipped"
                            else ("Omitted", f"upstream step {name!r} did not run"))
                    break
        if gate is not None:
            self._terminal(node, gate[0], gate[1])
            return
        assert node.step.for_each is not None
        try:
            items = self.resolver.value(node.step.for_each, node)
        except ResolveError as exc:
            self._terminal(node, "Failed", f"for_each: {exc}")
            return
        if isinstance(items, ArtifactRef) or not isinstance(items, list | tuple):
            self._terminal(node, "Failed", f"for_each of step {node.id!r} must resolve to a "
                           f"list, got {type(items).__name__} {items!r}")
            return
        fresh: list[StepRecord] = []
        children: list[Node] = []
        for i, item in enumerate(items):
            cid = f"{node.id}[{i}]"
            rec = self.existing.get(cid)
            if rec is None:
                rec = self._new_record(node.step, cid, i)
                fresh.append(rec)
            children.append(Node(id=cid, step=node.step, component=node.component, record=rec,
                                 iteration=i, item=item))
        node.expanded = True
        node.children = [c.id for c in children]
        self._count(node.record.state, "Running")
        node.record.state = "Running"
        node.record.started_at = node.record.started_at or utcnow()
        self.save(node.record, *fresh)
        self.emit("step", "Running", node.id, f"{len(items)} iterations")
        deps_all = deps.all - deps.iterationwise
        for child in children:
            waits = set(deps_all)
            for name in deps.iterationwise:
                up = self.nodes[name]
                if len(up.children) != len(children):
                    waits.add(f"{name}#bad")   # resolved in _prepare with a clear error
                else:
                    waits.add(f"{name}[{child.iteration}]")
            waits = {w for w in waits if not w.endswith("#bad")}
            self._add_node(child, waits)
        node.waiting = {c.id for c in children if c.id not in self.settled}
        for cid in node.waiting:
            self.dependents.setdefault(cid, []).append(node.id)
        self._mark(f"{node.id}#expanded")
        if not node.waiting:
            self.ready.append(node)

    def _finish_loop(self, node: Node) -> None:
        states = [self.nodes[c].record.state for c in node.children]
        if "Failed" in states:
            state = "Failed"
        elif "Cancelled" in states:
            state = "Cancelled"
        elif "Omitted" in states:
            state = "Omitted"
        elif states and all(s == "Skipped" for s in states):
            state = "Skipped"
        else:
            state = "Succeeded"
        outputs: dict[str, list[Any]] = {p.name: [] for p in node.component.outputs.parameters}
        for cid in node.children:
            rec = self.nodes[cid].record
            if rec.state in DONE_OK:
                for name in outputs:
                    outputs[name].append(rec.outputs.get(name))
        node.record.outputs = outputs
        failed = [c for c, s in zip(node.children, states, strict=True) if s == "Failed"]
        error = f"iterations failed: {', '.join(failed)}" if failed else None
        self._terminal(node, state, error)

    def _prepare(self, node: Node) -> None:
        """A node whose dependencies settled: skip, omit, serve from cache or queue it."""
        if self.stop_state is not None and not _always_runs(node):
            self._terminal(node, self.stop_state, self.stop_reason)
            return
        deps = self.deps[node.step.name]
        for name in deps.iterationwise:
            if node.iteration is not None and f"{name}[{node.iteration}]" not in self.nodes:
                self._terminal(node, "Failed", f"step {node.step.name!r} loops with step "
                               f"{name!r} over the same source but they have different "
                               f"numbers of iterations")
                return
        gate = self._gate(node, deps.all, deps.consumed)
        if gate is not None:
            self._terminal(node, gate[0], gate[1])
            return
        try:
            if node.step.when is not None and not evaluate(
                    node.step.when, lambda ref: self.resolver.value(ref, node)):
                self._terminal(node, "Skipped", message="condition is false")
                return
            params, arts = self.resolver.arguments(node)
        except (ResolveError, ConditionError) as exc:
            self._terminal(node, "Failed", str(exc))
            return
        rec = node.record
        rec.inputs = params
        rec.input_artifacts = {k: v for k, v in arts.items() if isinstance(v, str)}
        digests = {k: ([self._artifact(a).digest for a in v] if isinstance(v, list)
                       else self._artifact(v).digest) for k, v in arts.items()}
        node.artifacts_in = arts
        rec.cache_key = cache_key(self._component_json(node.step.component), params, digests)
        if self.use_cache and node.step.cache and not node.is_exit and self._try_cache(node):
            return
        if self.volumes is not None and node.step.volumes:
            error = self.volumes.attach(node.id, node.step.volumes)
            if error is not None:
                self._terminal(node, "Failed", error)
                return
        self.runnable.append(node)

    def _component_key(self, name: str) -> str:
        key = self.component_keys.get(name)
        if key is None:
            key = cache_key(self._component_json(name), {}, {})[7:23]
            self.component_keys[name] = key
        return key

    def _component_json(self, name: str) -> dict[str, Any]:
        found = self.component_json.get(name)
        if found is None:
            comp = self.spec.components[name]
            found = comp.model_dump(mode="json", by_alias=True, exclude={"description"})
            self.component_json[name] = found
        return found

    def _artifact(self, artifact_id: str) -> ArtifactRecord:
        rec = self.artifacts.get(artifact_id)
        if rec is None:
            rec = self.md.get_artifact(artifact_id)
            self.artifacts[artifact_id] = rec
        return rec

    def _try_cache(self, node: Node) -> bool:
        rec = node.record
        assert rec.cache_key is not None
        if self.new_cache:
            self.flush()   # an entry this run just made is a hit too
        entry = self.md.cache_get(rec.cache_key)
        if entry is None:
            return False
        copies: list[ArtifactRecord] = []
        try:
            for name, art_id in entry.output_artifacts.items():
                old = self._artifact(art_id)
                if not self.ctx.objects.exists(old.digest):
                    return False
                copies.append(ArtifactRecord(
                    id=uuid.uuid4().hex, run_id=self.run.id, step_id=node.id, name=name,
                    type=old.type, digest=old.digest, size=old.size, is_tree=old.is_tree,
                    uri=old.uri, metadata=dict(old.metadata)))
        except Exception:  # a dangling entry (its run deleted) is a miss, not an error
            return False
        if node.step.outputs_to and self.datarefs is not None and self.datarefs.write_outputs(
                node, copies):
            return False   # the repo write failed: run the step for real
        now = utcnow()
        self._count(rec.state, "Cached")
        rec.state = "Cached"
        rec.cache_hit = True
        rec.outputs = dict(entry.outputs)
        rec.output_artifacts = {a.name: a.id for a in copies}
        rec.started_at = rec.started_at or now
        rec.finished_at = now
        rec.error = None
        self.save(rec, artifacts=copies)
        for art in copies:
            self.artifacts[art.id] = art
        self.emit("step", "Cached", node.id, f"cache hit (from run {entry.run_id}, "
                  f"step {entry.step_id})")
        self._settle(node)
        return True

    # -- starting and finishing processes -------------------------------------------------

    def pump(self) -> None:
        while self.runnable and len(self.running) < self.capacity:
            node = self.runnable.popleft()
            if node.id in self.settled:
                continue
            limit = node.step.parallelism if node.iteration is not None else None
            if limit is not None and self.loop_running.get(node.step.name, 0) >= limit:
                self.blocked.setdefault(node.step.name, deque()).append(node)
                continue
            self._start(node)

    def _art_task(self, art_id: str, name: str) -> dict[str, Any]:
        art = self._artifact(art_id)
        return {"name": name, "digest": art.digest, "is_tree": art.is_tree, "type": art.type,
                "metadata": art.metadata, "uri": art.uri}

    def _start(self, node: Node) -> None:
        rec = node.record
        rec.attempt += 1
        node.attempts_here += 1
        self._count(rec.state, "Running")
        rec.state = "Running"
        rec.started_at = utcnow()
        rec.finished_at = None
        rec.error = None
        rec.log_path = str(self.log_dir / f"{node.id}.log")
        comp = node.component
        work = self.run_dir / "work" / node.id / str(rec.attempt)
        task: dict[str, Any] = {
            "run_id": self.run.id, "step_id": node.id, "attempt": rec.attempt,
            "log": rec.log_path, "work": str(work),
            "result": str(self.result_dir / f"{node.id}.{rec.attempt}.json"),
            "objects": self.objects_task,
            "parameters": rec.inputs,
            "input_artifacts": {
                k: ([self._art_task(a, k) for a in v] if isinstance(v, list)
                    else self._art_task(v, k)) for k, v in node.artifacts_in.items()},
            "output_parameters": {p.name: p.type.value for p in comp.outputs.parameters},
            "output_artifacts": {a.name: a.type.value for a in comp.outputs.artifacts},
        }
        if comp.python is not None:
            task["python"] = {"function": comp.python.function, "source": comp.python.source}
        else:
            assert comp.container is not None
            task["container"] = comp.container.model_dump(mode="json")
        if self.volumes is not None and node.step.volumes:
            task["env"] = self.volumes.env(node.step.volumes)
        node.task = task
        self.save(rec)   # recorded Running before the process exists (flushed below)
        message = None
        if comp.container is not None:
            message = (f"warning: image {comp.container.image!r} is not used locally; the "
                       f"command runs in the host environment")
        self.emit("step", "Running", node.id, message)
        attempt = rec.attempt
        node_id = node.id
        events = self.events

        def listen(report: ProcessReport) -> None:
            events.put((node_id, attempt, report))

        self.flush()
        node.rid = self.ctx.pool.submit(task, listen,
                                        key=self._component_key(node.step.component))
        self.running[node.id] = node
        if node.iteration is not None:
            self.loop_running[node.step.name] = self.loop_running.get(node.step.name, 0) + 1
        if node.step.timeout is not None:
            self._timer(time.monotonic() + node.step.timeout, "timeout", node.id, attempt)

    def _timer(self, when: float, kind: str, node_id: str, attempt: int) -> None:
        heapq.heappush(self.timers, (when, next(self._seq), kind, node_id, attempt))

    def handle_report(self, node_id: str, attempt: int, report: ProcessReport) -> None:
        node = self.nodes.get(node_id)
        if node is None or node.record.attempt != attempt or node_id not in self.running:
            return
        self._finish(node, report)

    def _read_result(self, path: str | None) -> dict[str, Any] | None:
        if path is None:
            return None
        try:
            with open(path, encoding="utf-8") as handle:
                result: dict[str, Any] = json.load(handle)
        except (OSError, ValueError):
            return None
        with contextlib.suppress(OSError):
            os.unlink(path)
        return result

    def _finish(self, node: Node, report: ProcessReport) -> None:
        del self.running[node.id]
        if node.iteration is not None:
            name = node.step.name
            self.loop_running[name] -= 1
            waiting = self.blocked.get(name)
            if waiting:
                self.runnable.appendleft(waiting.popleft())
        rec = node.record
        result: dict[str, Any] | None = None
        if report.event == "done":
            result = report.result if report.result is not None else self._read_result(
                report.result_file)
            rec.exit_code = 0 if result is not None and result.get("ok") else 1
        else:
            rec.exit_code = report.code if report.code is not None else (
                -report.signal if report.signal is not None else None)
        reason, node.kill_reason = node.kill_reason, None
        rec.pid = report.pid
        rec.finished_at = utcnow()
        if result is not None and result.get("log_digest"):
            rec.log_digest = result["log_digest"]
        else:
            rec.log_digest = self._store_log(rec.log_path)
        artifacts: list[ArtifactRecord] = []
        error: str | None
        if reason == "cancel":
            state, error = "Cancelled", "cancelled while running"
        elif reason == "deadline":
            state, error = "Failed", self.stop_reason
        elif reason == "timeout":
            state, error = "Failed", f"timed out after {node.step.timeout:g}s"
        elif result is not None and result.get("ok"):
            state, error = "Succeeded", None
            rec.outputs = result.get("outputs", {})
            for name, info in result.get("artifacts", {}).items():
                artifacts.append(ArtifactRecord(
                    id=uuid.uuid4().hex, run_id=self.run.id, step_id=node.id, name=name,
                    type=info["type"], digest=info["digest"], size=info["size"],
                    is_tree=info["is_tree"], uri=self._uri(info["digest"]),
                    metadata=info.get("metadata") or {}))
            rec.output_artifacts = {a.name: a.id for a in artifacts}
            if node.step.outputs_to and self.datarefs is not None:
                error = self.datarefs.write_outputs(node, artifacts)
                state = "Failed" if error else state
        elif result is not None:
            state, error = "Failed", result.get("error") or "the step failed"
        elif report.pid is None:
            state, error = "Failed", "the step executor process died"
        elif report.signal is not None:
            state, error = "Failed", f"the step process was killed by signal {report.signal}"
        else:
            state, error = "Failed", (f"the step process exited with code {report.code} "
                                      f"without a result")
        if state == "Failed" and reason not in ("cancel", "deadline") and self._retry(
                node, error or ""):
            return
        self._count(rec.state, state)
        rec.state = state
        rec.error = error
        cache = None
        if state == "Succeeded":
            for art in artifacts:
                self.artifacts[art.id] = art
            if self.use_cache and node.step.cache and rec.cache_key and not node.is_exit:
                cache = CacheEntry(key=rec.cache_key, run_id=self.run.id, step_id=node.id,
                                   outputs=rec.outputs, output_artifacts=rec.output_artifacts)
        self.save(rec, artifacts=artifacts, cache=cache)
        self.emit("step", state, node.id, error)
        self._settle(node)

    def _uri(self, digest: str) -> str:
        hexd = digest.split(":", 1)[-1]
        return f"{self.ctx.objects.url.rstrip('/')}/blobs/{hexd[:2]}/{hexd[2:4]}/{hexd}"

    def _store_log(self, path: str | None) -> str | None:
        if not path or not os.path.exists(path):
            return None
        try:
            return self.ctx.objects.put_file(path).digest
        except Exception:  # the step outcome matters more than its log copy
            return None

    def _retry(self, node: Node, error: str) -> bool:
        policy = node.step.retry
        if policy is None or self.stop_state is not None:
            return False
        used = node.attempts_here - 1
        if used >= policy.limit:
            return False
        delay = policy.delay(used + 1)
        rec = node.record
        self._count(rec.state, "Pending")
        rec.state = "Pending"
        rec.error = error
        self.save(rec)
        self.emit("step", "Pending", node.id,
                  f"retry {used + 1}/{policy.limit} in {delay:g}s: {error}")
        self._timer(time.monotonic() + delay, "retry", node.id, rec.attempt)
        return True

    def fire_timers(self) -> None:
        now = time.monotonic()
        while self.timers and self.timers[0][0] <= now:
            _, _, kind, node_id, attempt = heapq.heappop(self.timers)
            node = self.running.get(node_id)
            if kind == "timeout":
                if node is not None and node.record.attempt == attempt and node.rid:
                    node.kill_reason = "timeout"
                    self.ctx.pool.kill(node.rid)
            elif kind == "retry":
                target = self.nodes.get(node_id)
                if (target is not None and target.record.state == "Pending"
                        and target.record.attempt == attempt and target.id not in self.settled):
                    if self.stop_state is not None and not _always_runs(target):
                        self._terminal(target, self.stop_state, self.stop_reason)
                    else:
                        self.runnable.append(target)

    def next_timer(self) -> float | None:
        return self.timers[0][0] if self.timers else None

    # -- stopping -------------------------------------------------------------------------

    def stop(self, state: str, reason: str, kill_reason: str) -> None:
        """Cancel or deadline: kill what runs, close out everything not yet started."""
        self.stop_state, self.stop_reason = state, reason
        for node in self.running.values():
            if node.is_exit:
                continue
            node.kill_reason = kill_reason
            if node.rid is not None:
                self.ctx.pool.kill(node.rid)
        self.runnable.clear()
        self.blocked.clear()
        # A group's exit step (trigger: allDone) still runs once its group has settled, as
        # the run's exit handler does.
        pending = [n for n in self.nodes.values()
                   if n.id not in self.settled and n.id not in self.running
                   and not (n.is_loop and n.expanded) and not _always_runs(n)]
        for node in pending:
            self._count(node.record.state, state)
            node.record.state = state
            node.record.error = reason
            node.record.finished_at = utcnow()
        if pending:
            self.save(*(n.record for n in pending))
        for node in pending:
            self.emit("step", state, node.id, reason)
            self._settle(node)
        self.ready = deque(n for n in self.ready if _always_runs(n))

    # -- the loop -------------------------------------------------------------------------

    def wait(self, until: float | None) -> None:
        """Handle process reports, waiting for some until `until` (monotonic) at most."""
        self.flush()   # nothing waits uncommitted while the driver sleeps
        while not self._drain():
            remaining = 0.5 if until is None else until - time.monotonic()
            self.ctx.pool.pump(max(0.0, remaining))   # at least one look at the pipe
            if remaining <= 0:
                self._drain()
                return

    def _drain(self) -> bool:
        handled = False
        while True:
            try:
                item = self.events.get_nowait()
            except queue.Empty:
                return handled
            self.handle_report(*item)
            handled = True

    def _check_cancel(self) -> bool:
        try:
            run = self.md.get_run(self.run.id)
        except Exception:
            return False
        return bool(run.options.get("cancel_requested"))

    def drive(self) -> RunRecord:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.result_dir.mkdir(parents=True, exist_ok=True)
        started = self.run.started_at or utcnow()
        self.run = self.md.update_run(
            self.run.id, state="Running", started_at=started, finished_at=None, error=None,
            driver_pid=os.getpid(), driver_host=socket.gethostname())
        self.emit("run", "Running")
        deadline_at: float | None = None
        if self.spec.deadline is not None:
            elapsed = (utcnow() - started).total_seconds()
            deadline_at = time.monotonic() + max(0.0, self.spec.deadline - elapsed)
        try:
            cancelled = self._loop(deadline_at)
        except KeyboardInterrupt:
            self._interrupted()
            raise
        error: str | None
        if cancelled:
            state, error = "Cancelled", "the run was cancelled"
        elif self.stop_state == "Omitted":
            state, error = "Failed", self.stop_reason
        elif any(n.record.state in FAILED_LIKE for n in self.nodes.values()):
            state = "Failed"
            error = self.first_error or "a step failed"
        else:
            state, error = "Succeeded", None
        state, error = self._run_exit_handler(state, error)
        return self._close_run(state, error)

    def _close_run(self, state: str, error: str | None) -> RunRecord:
        self.flush()
        outputs = self._outputs()
        self.run = self.md.update_run(self.run.id, state=state, error=error, outputs=outputs,
                                      finished_at=utcnow())
        self.emit("run", state, message=error)
        shutil.rmtree(self.result_dir, ignore_errors=True)
        if self.datarefs is not None:
            self.datarefs.close()
        if self.volumes is not None:
            self.volumes.release_all()
        return self.run

    def _interrupted(self) -> None:
        """Ctrl-C in the driver: cancel (kill steps, run the exit handler).

        When a cancel was already under way (a first Ctrl-C that the CLI turned into a
        cancel), this one means "abort at once": steps are killed, no exit handler.
        """
        reason = "interrupted in the driver (KeyboardInterrupt)"
        state: str = "Cancelled"
        error: str | None = reason
        if self.stop_state is not None:
            self.stop(self.stop_state, self.stop_reason or reason, "cancel")
            killed = list(self.running.values())
            for node in killed:   # their kill is sent; don't wait for the reports
                node.record.state, node.record.error = "Cancelled", reason
                node.record.finished_at = utcnow()
            if killed:
                self.save(*(n.record for n in killed))
            self._close_unsettled("Cancelled", reason)
            self._close_run(state, error)
            return
        try:
            self.stop("Cancelled", reason, "cancel")
            limit = time.monotonic() + 5.0
            while (self.running or self.ready or self.runnable) and time.monotonic() < limit:
                self.process_ready()   # groups' exit steps run once their groups settled
                self.pump()
                if self.running:
                    self.wait(limit)
            self._close_unsettled("Cancelled", reason)
            state, error = self._run_exit_handler(state, error)
        finally:
            self._close_run(state, error)

    def _loop(self, deadline_at: float | None) -> bool:
        """Run until every main step settled; True when the run was cancelled."""
        next_poll = time.monotonic() + CANCEL_POLL
        cancelled = False
        if self.run.options.get("cancel_requested"):
            cancelled = True
            self.stop("Cancelled", "the run was cancelled", "cancel")
        while True:
            self.process_ready()
            self.pump()
            if self.unsettled == 0 and not self.running:
                break
            if not self.running and not self.runnable and not self.ready and not self.timers:
                stuck = [n.id for n in self.nodes.values() if n.id not in self.settled]
                self.stop("Omitted", f"unreachable steps (dependency cycle?): {stuck}",
                          "deadline")
                if not self.ready:
                    self._close_unsettled("Omitted", f"unreachable steps: {stuck}")
                continue
            wake = min(t for t in (self.next_timer(), next_poll, deadline_at) if t is not None)
            self.wait(wake)
            self.fire_timers()
            now = time.monotonic()
            if deadline_at is not None and now >= deadline_at:
                deadline_at = None
                if self.stop_state is None:
                    self.stop("Omitted", f"run deadline of {self.spec.deadline:g}s exceeded",
                              "deadline")
            if now >= next_poll:
                next_poll = now + CANCEL_POLL
                if self.stop_state is None and self._check_cancel():
                    cancelled = True
                    self.stop("Cancelled", "the run was cancelled", "cancel")
        return cancelled

    def _close_unsettled(self, state: str, reason: str) -> None:
        """Close out the group exit steps that `stop` left waiting but that cannot run."""
        left = [n for n in self.nodes.values()
                if n.id not in self.settled and n.id not in self.running and not n.is_exit]
        for node in left:
            self._count(node.record.state, state)
            node.record.state, node.record.error = state, reason
            node.record.finished_at = utcnow()
        self.save(*(n.record for n in left))
        for node in left:
            self.emit("step", state, node.id, reason)
            self._settle(node)
        self.ready.clear()

    def _group_status(self, node: Node) -> dict[str, Any]:
        """What {groupStatus: true} gives: the combined outcome of the steps in `after`."""
        failed: list[Node] = []
        cancelled = False
        for name in node.step.after:
            dep = self.nodes.get(name)
            if dep is None:
                continue
            if dep.record.state in ("Failed", "Omitted"):
                failed.append(dep)
            cancelled = cancelled or dep.record.state == "Cancelled"
        error: str | None = None
        if failed:
            state, first = "Failed", failed[0]
            error = f"step {first.id!r} {first.record.state.lower()}: {first.record.error}"
        elif cancelled:
            state, error = "Cancelled", "the run was cancelled"
        else:
            state = "Succeeded"
        return {"state": state, "run_id": self.run.id, "error": error,
                "steps": list(node.step.after)}

    def _run_exit_handler(self, state: str, error: str | None) -> tuple[str, str | None]:
        node = self.exit_node
        if node is None:
            return state, error
        self.resolver.run_status = {"state": state, "run_id": self.run.id, "error": error}
        self.stop_state = None   # the exit handler always runs, even after cancel/deadline
        if node.record.state in TERMINAL_STEP_STATES:
            self._count(node.record.state, "Pending")
            node.record.state = "Pending"
        self.nodes[node.id] = node
        self._prepare(node)
        while node.id not in self.settled:
            self.pump()
            if node.id in self.settled:
                break
            self.wait(self.next_timer())
            self.fire_timers()
        if node.record.state == "Failed" and state == "Succeeded":
            return "Failed", f"exit handler {node.id!r} failed: {node.record.error}"
        return state, error

    def _outputs(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, ref in self.spec.outputs.items():
            try:
                value = self.resolver.value(ref, None)
            except ResolveError:
                value = None
            if isinstance(value, ArtifactRef):
                value = value.id
            elif isinstance(value, list):
                value = [v.id if isinstance(v, ArtifactRef) else v for v in value]
            out[name] = value
        return out



def _always_runs(node: Node) -> bool:
    """The run's exit handler and a group's exit step run even after a cancel or deadline."""
    return node.is_exit or node.step.trigger == "allDone"
