"""In-image entry point of a rendered DataPipeline Workflow: list, process, commit, finish.

    python -m flowyard.kube.datum_step list    --pipeline B64 --job UID --out FILE
    python -m flowyard.kube.datum_step process --pipeline B64 --job UID --datum ID --out FILE
    python -m flowyard.kube.datum_step commit  --pipeline B64 --job UID --results JSON
    python -m flowyard.kube.datum_step finish  --pipeline B64 --job UID --status S [--failures J]

Every pod reaches the same data store as the platform through its FLOWYARD_* settings (the
database URL from a Secret, blobs in the environment's S3 bucket) and runs the same code as
a local job (`flowyard.data.pipelines`): `list` records the job (named after the Workflow's
uid, so a retried pod finds it again) and prints the datums to run; each `process` pod
rebuilds the job's plan from its input commits, runs its one datum's transform and stores
the outputs as a tree blob, whose digest Argo hands to `commit` in the loop's aggregated
output; `commit` publishes one output commit with the input commits as provenance. The exit
handler `finish` marks a job that did not get that far as Failed.

Exit codes: 0 done, 1 the datum or the job failed (or the store), 2 bad input.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import shutil
import sys
import tempfile
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

from flowyard.data.pipelines import DataPipelines, DatumFailure, Job, JobPlan, Outcome
from flowyard.errors import FlowyardError, InvalidInput, NotFound, RunFailed
from flowyard.resources.data_pipeline import DataPipeline

NOTHING = "-"
"""The one item `list` prints when no datum needs running: Argo only aggregates a loop's
outputs when the loop ran at least once, and `commit` reads them."""


def decode_pipeline(encoded: str) -> DataPipeline:
    try:
        body = json.loads(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput(f"--pipeline is not a base64-encoded DataPipeline: {exc}",
                           hint="render the Workflow again with `flowyard render`") from exc
    return DataPipeline.model_validate(body)


def job_id(uid: str) -> str:
    """A Workflow uid ('3f2a...-...') as a job id (32 hex digits)."""
    try:
        return uuid.UUID(uid).hex
    except ValueError as exc:
        raise InvalidInput(f"--job {uid!r} is not a Workflow uid (a UUID)",
                           hint="the Workflow passes {{workflow.uid}}") from exc


def _plan(pipes: DataPipelines, job: str) -> JobPlan:
    return pipes.plan_of(job)


def list_datums(pipes: DataPipelines, pipeline: DataPipeline, job: str) -> list[str]:
    """Record the job (once) and return the ids of the datums it must run."""
    pipes.create(pipeline, update=True)
    try:
        pipes.job(job)
    except NotFound:
        started = pipes.start(pipeline.name, job_id=job)
        if isinstance(started, Job):
            print(f"data pipeline {pipeline.name!r} is up to date (job {started.id}, output "
                  f"commit {started.output_commit})", file=sys.stderr)
            return []
        todo = [d.id for d in started.todo]
    else:  # a retried pod: the job is already recorded
        todo = [d.id for d in _plan(pipes, job).todo]
    print(f"job {job}: {len(todo)} datum(s) to process", file=sys.stderr)
    return todo


def process(pipes: DataPipelines, job: str, datum: str, work: Path) -> dict[str, str]:
    """Run one datum and store its outputs as a tree blob: {"datum": id, "tree": digest}."""
    if datum == NOTHING:
        return {}
    plan = _plan(pipes, job)
    found = next((d for d in plan.todo if d.id == datum), None)
    if found is None:
        raise NotFound(f"job {job} of data pipeline {plan.pipeline.name!r} has no datum "
                       f"{datum!r} to process",
                       hint="the Workflow's datum list and the job disagree; resubmit it")
    # One try per pod: Argo's retryStrategy (datumTries) retries the pod.
    once = plan.pipeline.model_copy(
        update={"spec": plan.pipeline.spec.model_copy(update={"datum_tries": 1})})
    outcome = pipes.run_datum(once, found, work)
    if outcome.failure is not None:
        raise DatumFailed(outcome.failure)
    out = work / found.id / "out"  # where run_datum let the transform write
    tree = pipes.ds.objects.put_tree(out)
    print(f"datum {datum} ({found.describe()}): {len(outcome.outputs)} output file(s)",
          file=sys.stderr)
    return {"datum": datum, "tree": tree.digest}


def parse_results(text: str) -> dict[str, str]:
    """Argo's aggregated loop output (a JSON list of objects, or of JSON texts) -> datum->tree."""
    try:
        items = json.loads(text)
        if not isinstance(items, list):
            raise ValueError("not a list")
        out: dict[str, str] = {}
        for item in items:
            value = json.loads(item) if isinstance(item, str) else item
            if value:
                out[str(value["datum"])] = str(value["tree"])
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInput(f"--results is not the process loop's output list: {exc}",
                           hint="the Workflow passes {{tasks.process.outputs.parameters."
                                "result}}") from exc
    return out


def commit(pipes: DataPipelines, job: str, results: dict[str, str], work: Path) -> Job | None:
    """Publish the job's outputs as one commit; None when `list` found nothing to do."""
    try:
        recorded = pipes.job(job)
    except NotFound:
        return None
    if recorded.state != "Running":  # a retried pod after the commit
        return recorded
    plan = _plan(pipes, job)
    missing = [d.id for d in plan.todo if d.id not in results]
    if missing:
        failures = [DatumFailure(datum, "", 0, "no output recorded by the process step")
                    for datum in missing]
        return pipes.fail(plan, failures)
    outcomes = []
    for d in plan.todo:
        folder = pipes.ds.objects.materialize(results[d.id], work / d.id)
        outcomes.append(Outcome(d, _files(folder)))
    plan.job.stats["processed"] = len(outcomes)
    return pipes.publish(plan, outcomes)


def finish(pipes: DataPipelines, job: str, status: str, failures: str) -> Job | None:
    """The exit handler: a job still Running when the Workflow ended did not commit."""
    try:
        recorded = pipes.job(job)
    except NotFound:
        return None
    if recorded.state != "Running":
        return recorded
    plan = _plan(pipes, job)
    found: list[DatumFailure] = []
    try:
        for node in json.loads(failures or "[]") or []:
            found.append(DatumFailure(str(node.get("displayName", "?")), "", 0,
                                      str(node.get("message", ""))))
    except (ValueError, AttributeError):
        pass
    if not found:
        found = [DatumFailure("?", "", 0, f"the Workflow ended {status} before the commit")]
    plan.job.stats["failed"] = len(found)
    return pipes.fail(plan, found)


def _files(folder: Path) -> dict[str, Path]:
    from flowyard.data.pipelines import output_files

    return output_files(folder)


class DatumFailed(RunFailed):
    headline = "Datum failed"

    def __init__(self, failure: DatumFailure) -> None:
        super().__init__(f"datum {failure.datum} ({failure.files}) failed:\n{failure.log}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m flowyard.kube.datum_step")
    parser.add_argument("action", choices=["list", "process", "commit", "finish"])
    parser.add_argument("--pipeline", required=True, help="the DataPipeline, base64 JSON")
    parser.add_argument("--job", required=True, help="the Workflow's uid")
    parser.add_argument("--datum", help="process: the datum id")
    parser.add_argument("--out", type=Path, help="list/process: the output parameter file")
    parser.add_argument("--results", help="commit: the process loop's aggregated output")
    parser.add_argument("--status", default="", help="finish: the Workflow's status")
    parser.add_argument("--failures", default="", help="finish: {{workflow.failures}}")
    return parser


def run(args: argparse.Namespace) -> int:
    from flowyard.data.repo import DataStore

    pipeline = decode_pipeline(args.pipeline)
    job = job_id(args.job)
    needs = {"list": ["out"], "process": ["datum", "out"], "commit": ["results"],
             "finish": []}[args.action]
    missing = [f"--{n}" for n in needs if getattr(args, n) is None]
    if missing:
        raise InvalidInput(f"datum_step {args.action} needs {', '.join(missing)}")
    work = Path(tempfile.mkdtemp(prefix="flowyard-datum-"))
    try:
        with DataStore.from_settings() as ds:
            pipes = DataPipelines(ds, pipeline.namespace)
            if args.action == "list":
                todo = list_datums(pipes, pipeline, job)
                write_output(args.out, json.dumps(todo or [NOTHING]))
            elif args.action == "process":
                write_output(args.out, json.dumps(process(pipes, job, args.datum, work)))
            elif args.action == "commit":
                done = commit(pipes, job, parse_results(args.results), work)
                return _report(pipeline, done)
            else:
                finish(pipes, job, args.status, args.failures)
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _report(pipeline: DataPipeline, job: Job | None) -> int:
    if job is None:
        print(f"data pipeline {pipeline.name!r}: nothing new to commit", file=sys.stderr)
        return 0
    if job.state != "Succeeded":
        print(f"flowyard: {job.error}", file=sys.stderr)
        return 1
    print(f"data pipeline {pipeline.name!r} job {job.id}: output commit "
          f"{pipeline.output_repo}@{job.output_commit}", file=sys.stderr)
    return 0


def write_output(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def entry_point(parser: argparse.ArgumentParser, runner: Callable[[argparse.Namespace], int],
                argv: Sequence[str] | None) -> int:
    """Run an in-image step; a Flowyard error becomes its message and exit code, which is
    what Argo shows for the failed pod."""
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        return runner(args)
    except FlowyardError as exc:
        print(f"flowyard: {exc.headline}: {exc}", file=sys.stderr)
        return exc.exit_code


def main(argv: Sequence[str] | None = None) -> int:
    return entry_point(_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())

