"""Data pipelines: run a transform over the datums of input commits, incrementally.

`DataPipelines(ds).create(pipeline)` stores a DataPipeline (refusing provenance cycles) and
creates its output repo, owned by the pipeline so that nothing else writes there.
`run(name)` makes one job: it computes the datums of the input branches' heads, reuses the
outputs of datums the last successful job already processed with the same transform, runs
the others (in parallel, each in its own process: see transforms.py; with tries and a
timeout), and publishes
all outputs as ONE commit of the output repo whose provenance is the exact input commits.
A failed datum fails the job with its log and leaves the output branch untouched.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import blake3
from pydantic import ValidationError
from sqlalchemy import insert, select, update

from flowyard.data import schema as t
from flowyard.data.content import FileEntry, PackReader
from flowyard.data.datums import Datum, datums
from flowyard.data.refs import check_repo_name, suggest
from flowyard.data.repo import DataStore
from flowyard.data.transforms import Transforms, transform_source, transforms_for
from flowyard.errors import Conflict, InvalidInput, NotFound, Problem, ResourceInvalid
from flowyard.processes import driver_alive
from flowyard.resources.data_pipeline import DataPipeline
from flowyard.store.records import utcnow

KIND: Final = "DataPipeline"
@dataclass(slots=True)
class DatumFailure:
    datum: str
    files: str
    attempts: int
    log: str


@dataclass(slots=True)
class Job:
    id: str
    pipeline: str
    state: str
    inputs: dict[str, str]
    output_commit: str | None
    transform_hash: str
    stats: dict[str, int]
    datums: dict[str, list[str]]
    failures: list[dict[str, Any]]
    warnings: list[str]
    error: str | None
    created_at: datetime
    finished_at: datetime | None
    # The process running a local job: a job whose process died is failed when next seen
    # (see _settle_dead). None for jobs run elsewhere (pods on Kubernetes).
    driver_pid: int | None = None
    driver_host: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("datums")
        return d


@dataclass(slots=True)
class Outcome:
    """A datum's result: its output files (output path -> local file) or its failure."""

    datum: Datum
    outputs: dict[str, Path] = field(default_factory=dict)
    failure: DatumFailure | None = None


@dataclass(slots=True)
class JobPlan:
    """One job's work: every datum, those to run, and what it reuses from the last success."""

    pipeline: DataPipeline
    job: Job
    datums: list[Datum]
    todo: list[Datum]
    old_map: Mapping[str, list[str]]
    old_entries: Mapping[str, FileEntry]
    old_commit: str | None = None
    """The output commit of the last success, which old_entries are the files of."""


_JOB_COLS = [t.data_jobs.c[f] for f in Job.__dataclass_fields__]


class DataPipelines:
    def __init__(self, ds: DataStore, namespace: str | None = None) -> None:
        self.ds = ds
        # Where its repos live too: the settings' namespace unless the platform names one.
        self.namespace = ds.settings.namespace if namespace is None else namespace

    # -- resources --------------------------------------------------------------------------

    def create(self, pipeline: DataPipeline | Mapping[str, Any], *, update: bool = False
               ) -> DataPipeline:
        """Store a pipeline and create its output repo; refuses cycles and unknown repos."""
        p = self._model(pipeline)
        name = p.metadata.name
        existing = {x.metadata.name: x for x in self.list_pipelines()}
        if name in existing and not update:
            raise Conflict(f"data pipeline '{name}' already exists",
                           hint="pass update=True (--update) to change it")
        out = check_repo_name(p.output_repo)
        # Only the pipeline's own profile: a repo elsewhere is not found (isolation).
        repos = {r.name: r for r in self.ds.list_repos(self.namespace)}
        for leaf in p.spec.input.leaves():
            if leaf.repo not in repos:
                raise NotFound(
                    f"data pipeline '{name}': input repo '{leaf.repo}' not found",
                    hint=suggest(leaf.repo, repos),
                )
        self._check_cycle(p, existing)
        owner = f"{KIND}/{name}"
        if out in repos:
            if repos[out].owner != owner:
                raise Conflict(
                    f"data pipeline '{name}': output repo '{out}' already exists and is not "
                    "this pipeline's",
                    hint="set spec.outputRepo to a new repo name, or delete that repo",
                )
        else:
            self.ds.create_repo(out, description=f"output of data pipeline {name}", owner=owner,
                                namespace=self.namespace)
        self.ds.meta.put_resource(KIND, self.namespace, name, p.to_dict())
        return p

    def _model(self, pipeline: DataPipeline | Mapping[str, Any]) -> DataPipeline:
        if isinstance(pipeline, DataPipeline):
            return pipeline
        try:
            return DataPipeline.model_validate(dict(pipeline))
        except ValidationError as exc:
            raise ResourceInvalid(
                [Problem(e["msg"], field=".".join(str(x) for x in e["loc"]))
                 for e in exc.errors()]
            ) from exc

    def _check_cycle(self, new: DataPipeline, existing: Mapping[str, DataPipeline]) -> None:
        edges: dict[str, set[str]] = {}
        for p in [*(x for n, x in existing.items() if n != new.metadata.name), new]:
            for leaf in p.spec.input.leaves():
                edges.setdefault(leaf.repo, set()).add(p.output_repo)
        start = new.output_repo
        stack, seen = [start], set()
        while stack:
            repo = stack.pop()
            for nxt in edges.get(repo, ()):
                if nxt in {leaf.repo for leaf in new.spec.input.leaves()} or nxt == start:
                    raise InvalidInput(
                        f"data pipeline '{new.metadata.name}' would make a provenance cycle: "
                        f"its output repo '{start}' flows back into its input '{nxt}'",
                        hint="a pipeline cannot read, directly or through other pipelines, "
                        "what it writes",
                    )
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)

    def get(self, name: str) -> DataPipeline:
        try:
            body = self.ds.meta.get_resource(KIND, self.namespace, name)
        except NotFound as exc:
            names = [p.metadata.name for p in self.list_pipelines()]
            raise NotFound(f"data pipeline '{name}' not found", hint=suggest(name, names)
                           ) from exc
        return DataPipeline.model_validate(body)

    def list_pipelines(self) -> list[DataPipeline]:
        return [DataPipeline.model_validate(b)
                for b in self.ds.meta.list_resources(KIND, self.namespace)]

    def delete(self, name: str) -> None:
        """Delete the pipeline; its output repo stays, open to ordinary writes again."""
        p = self.get(name)
        self.ds.meta.delete_resource(KIND, self.namespace, name)
        self.ds.catalog.set_owner(p.output_repo, None, only_if=f"{KIND}/{name}")

    # -- jobs -------------------------------------------------------------------------------

    def jobs(self, name: str) -> list[Job]:
        self._settle_dead(name)
        j = t.data_jobs
        with self.ds.catalog.tx() as conn:
            rows = conn.execute(select(*_JOB_COLS).where(j.c.pipeline == name)
                                .order_by(j.c.created_at.desc())).all()
        return [Job(*r) for r in rows]

    def _last_success(self, name: str) -> Job | None:
        return next((j for j in self.jobs(name) if j.state == "Succeeded"), None)

    def run(self, name: str, *, reprocess: bool = False) -> Job:
        """One job over the input branches' heads; returns it (state Succeeded or Failed)."""
        plan = self.start(name, reprocess=reprocess)
        if isinstance(plan, Job):
            return plan  # same input commits, same datums, same transform: nothing to do
        p, job, todo = plan.pipeline, plan.job, plan.todo
        work = Path(tempfile.mkdtemp(prefix=_work_prefix(job.id)))
        try:
            with transforms_for(p, warm=bool(todo)) as runner, \
                    ThreadPoolExecutor(p.spec.parallelism) as pool:
                outcomes = list(pool.map(lambda d: self._run_datum(p, d, work, runner), todo))
            failed = [o.failure for o in outcomes if o.failure is not None]
            job.stats["processed"] = len(outcomes) - len(failed)
            job.stats["failed"] = len(failed)
            if failed:
                return self.fail(plan, failed)
            return self.publish(plan, outcomes)
        except Conflict as exc:   # two datums wrote the same path: the job fails, naming both
            return self._finish(job, "Failed", error=str(exc))
        except BaseException as exc:
            # Whatever stopped the job (the store, Ctrl-C) must not leave it Running for good.
            with contextlib.suppress(Exception):
                self._finish(job, "Failed", error=f"the job stopped: {type(exc).__name__}: {exc}")
            raise
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def start(self, name: str, *, reprocess: bool = False, job_id: str | None = None
              ) -> JobPlan | Job:
        """Record a Running job over the input branches' heads and say which datums it must
        run; the last successful job instead when nothing changed since it."""
        p = self.get(name)
        self._settle_dead(name)
        spec = p.spec
        warnings: list[str] = []
        inputs: dict[str, str] = {}
        files: dict[str, dict[str, FileEntry]] = {}
        for leaf in spec.input.leaves():
            try:
                commit = self.ds.resolve(f"{leaf.repo}@{leaf.branch}")
            except NotFound as exc:
                if "has no commits yet" not in exc.message:
                    raise
                warnings.append(f"input {leaf.repo}@{leaf.branch} has no commits yet")
                files[leaf.input_name] = {}
                continue
            inputs[leaf.input_name] = commit.id
            files[leaf.input_name] = self.ds._entries(commit)
        all_datums = datums(spec.input, files)
        th = _transform_hash(p)
        prev = self._last_success(name)
        reuse = prev is not None and not reprocess and (
            prev.transform_hash == th or not spec.reprocess_on_transform_change)
        if (prev is not None and reuse and prev.inputs == inputs
                and set(prev.datums) == {d.id for d in all_datums}):
            return prev
        if not all_datums:
            warnings.append(
                "no datum: the glob(s) matched nothing, so the output commit is empty")
        job = Job(job_id or uuid.uuid4().hex, name, "Running", inputs, None, th,
                  {"datums": len(all_datums), "processed": 0, "skipped": 0, "failed": 0},
                  {}, [], warnings, None, utcnow(), None)
        if job_id is None:   # run by this process (a pod's job is watched by its workflow)
            job.driver_pid, job.driver_host = os.getpid(), socket.gethostname()
        plan = self._plan(p, job, all_datums, prev if reuse else None)
        job.stats["skipped"] = len(all_datums) - len(plan.todo)
        with self.ds.catalog.tx(write=True) as conn:
            conn.execute(insert(t.data_jobs), asdict(job))
        return plan

    def plan_of(self, job_id: str, *, reprocess: bool = False) -> JobPlan:
        """The plan of a recorded job, rebuilt from its input commits: what a worker in
        another process (a pod on Kubernetes) needs to run one of its datums or publish it.
        `reprocess` must be what `start` was given."""
        job = self.job(job_id)
        p = self.get(job.pipeline)
        files: dict[str, dict[str, FileEntry]] = {}
        for leaf in p.spec.input.leaves():
            commit_id = job.inputs.get(leaf.input_name)
            files[leaf.input_name] = (
                self.ds._entries(self.ds.resolve(f"{leaf.repo}@{commit_id}")) if commit_id
                else {})
        # The last success before this job, as `start` saw it.
        prev = next((j for j in self.jobs(job.pipeline)
                     if j.state == "Succeeded" and j.created_at < job.created_at), None)
        reuse = prev is not None and not reprocess and (
            prev.transform_hash == job.transform_hash
            or not p.spec.reprocess_on_transform_change)
        return self._plan(p, job, datums(p.spec.input, files), prev if reuse else None)

    def _settle_dead(self, name: str) -> None:
        """Fail the Running jobs of `name` whose process on this host is gone (killed, the
        machine rebooted): nothing will finish them, and a job left Running for good would
        read as still in progress. Their leftover work folders go too."""
        j = t.data_jobs
        with self.ds.catalog.tx() as conn:
            rows = conn.execute(select(j.c.id, j.c.driver_pid, j.c.driver_host).where(
                j.c.pipeline == name, j.c.state == "Running",
                j.c.driver_pid.is_not(None))).all()
        for job_id, pid, host in rows:
            if driver_alive(pid, host):
                continue
            with self.ds.catalog.tx(write=True) as conn:
                conn.execute(update(j).where(j.c.id == job_id, j.c.state == "Running").values(
                    state="Failed", finished_at=utcnow(),
                    error=f"the process running this job (pid {pid} on {host}) ended before "
                          "the job finished (killed?); the output branch was not changed. "
                          f"Run it again: flowyard data pipeline run {name}"))
            for leftover in Path(tempfile.gettempdir()).glob(_work_prefix(job_id) + "*"):
                shutil.rmtree(leftover, ignore_errors=True)

    def job(self, job_id: str) -> Job:
        j = t.data_jobs
        with self.ds.catalog.tx() as conn:
            row = conn.execute(select(*_JOB_COLS).where(j.c.id == job_id)).first()
        if row is None:
            raise NotFound(f"data pipeline job '{job_id}' not found",
                           hint="list the jobs with `flowyard data pipeline jobs PIPELINE`")
        return Job(*row)

    def _plan(self, p: DataPipeline, job: Job, all_datums: list[Datum],
              prev: Job | None) -> JobPlan:
        old_map = prev.datums if prev is not None else {}
        old_entries = (
            self.ds._entries(self.ds.resolve(f"{p.output_repo}@{prev.output_commit}"))
            if prev is not None and prev.output_commit else {}
        )
        todo = [d for d in all_datums if d.id not in old_map]
        return JobPlan(p, job, all_datums, todo, old_map, old_entries,
                       prev.output_commit if prev is not None else None)

    def fail(self, plan: JobPlan, failed: list[DatumFailure]) -> Job:
        """Finish a job whose datums failed; the output branch stays where it was."""
        job, first = plan.job, failed[0]
        job.failures = [asdict(f) for f in failed]
        return self._finish(job, "Failed", error=(
            f"data pipeline '{job.pipeline}': {len(failed)} of {len(plan.todo)} datum(s) "
            f"failed after {plan.pipeline.spec.datum_tries} tries; first: datum {first.datum} "
            f"({first.files}):\n{first.log}"))

    def publish(self, plan: JobPlan, outcomes: list[Outcome]) -> Job:
        """Commit the outputs of the datums run and those reused as one output commit."""
        return self._publish(plan.pipeline, plan.job, plan.datums, outcomes, plan.old_map,
                             plan.old_entries, plan.old_commit)

    def _publish(self, p: DataPipeline, job: Job, all_datums: list[Datum],
                 outcomes: list[Outcome], old_map: Mapping[str, list[str]],
                 old_entries: Mapping[str, FileEntry], old_commit: str | None = None) -> Job:
        owners: dict[str, str] = {}
        with self.ds.open_commit(
            f"{p.output_repo}@master", origin="data-pipeline",
            provenance=sorted(job.inputs.values()), message=f"job {job.id}",
            info={"pipeline": p.metadata.name, "job": job.id},
        ) as commit:
            done = {o.datum.id: o for o in outcomes}
            # The output branch still at the last success's commit (the usual case): the
            # reused datums' files are there already, so only the outputs of the datums run
            # again or gone are taken out, and the commit holds just the change (a delta).
            # Otherwise the output is written whole.
            incremental = old_commit is not None and commit.base_head == old_commit
            if incremental:
                current = {d.id for d in all_datums}
                for datum_id, written in old_map.items():
                    if datum_id in done or datum_id not in current:
                        for rel in written:
                            commit.delete(rel)
            else:
                commit.delete("")
            for d in all_datums:
                paths: list[str] = []
                if d.id in done:
                    for rel, local in sorted(done[d.id].outputs.items()):
                        self._claim(owners, rel, d, job, p)
                        commit.put_file(rel, local)
                        paths.append(rel)
                else:
                    for rel in old_map.get(d.id, []):
                        self._claim(owners, rel, d, job, p)
                        if rel in old_entries:
                            if not incremental:
                                commit.put_entry(old_entries[rel])
                            paths.append(rel)
                job.datums[d.id] = paths
            result = commit.finish()
        job.output_commit = result.commit.id if result.commit else None
        return self._finish(job, "Succeeded")

    def _claim(self, owners: dict[str, str], rel: str, d: Datum, job: Job,
               p: DataPipeline) -> None:
        other = owners.setdefault(rel, d.id)
        if other != d.id:
            raise Conflict(
                f"data pipeline '{p.metadata.name}' job {job.id}: datums {other} and {d.id} "
                f"both wrote '/{rel}'",
                hint="make each datum write under a path of its own (e.g. named after its "
                "input file)",
            )

    def _finish(self, job: Job, state: str, error: str | None = None) -> Job:
        job.state = state
        job.error = error
        job.finished_at = utcnow()
        with self.ds.catalog.tx(write=True) as conn:
            conn.execute(update(t.data_jobs).where(t.data_jobs.c.id == job.id).values(
                state=state, error=error, finished_at=job.finished_at, stats=job.stats,
                failures=job.failures, datums=job.datums, output_commit=job.output_commit,
                warnings=job.warnings))
        return job

    def run_datum(self, p: DataPipeline, d: Datum, work: Path) -> Outcome:
        """Run one datum's transform (with the pipeline's tries and timeout) under `work`."""
        with transforms_for(p, warm=False) as runner:
            return self._run_datum(p, d, work, runner)

    def _run_datum(self, p: DataPipeline, d: Datum, work: Path, runner: Transforms) -> Outcome:
        spec = p.spec
        root = work / d.id
        inp, out = root / "in", root / "out"
        logs: list[str] = []   # each try's log (tail), kept for the failure report
        for attempt in range(1, spec.datum_tries + 1):
            shutil.rmtree(root, ignore_errors=True)
            out.mkdir(parents=True)
            with PackReader(self.ds.objects) as reader:
                for f in d.files:
                    dest = inp / f.input / f.entry.path
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, f.entry.mode)
                    try:
                        reader.copy_to(f.entry.parts, fd)
                    finally:
                        os.close(fd)
            code, log = runner.run(inp, out, root, attempt)
            if code == 0:
                return Outcome(d, output_files(out))
            logs.append(log)
        return Outcome(d, failure=DatumFailure(d.id, d.describe(), spec.datum_tries,
                                               "".join(logs)))


def output_files(out: Path) -> dict[str, Path]:
    """Every file a datum wrote under `out`: its output path ('a/b.txt') -> the local file."""
    return {
        os.path.relpath(os.path.join(dp, n), out).replace(os.sep, "/"): Path(dp) / n
        for dp, _, names in os.walk(out) for n in names
    }


def _transform_hash(p: DataPipeline) -> str:
    tr = p.spec.transform
    h = blake3.blake3(json.dumps(tr.model_dump(mode="json"), sort_keys=True).encode())
    if tr.python:
        # The code itself, not only its name: editing the function's file (or module)
        # reprocesses, as the docs promise.
        source = transform_source(tr.python)
        if source is not None:
            h.update(source.encode())
    return "blake3:" + str(h.hexdigest())


def _work_prefix(job_id: str) -> str:
    return f"flowyard-job-{job_id[:8]}-"
