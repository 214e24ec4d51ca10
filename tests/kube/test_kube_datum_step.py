"""The DataPipeline Workflow's in-image steps (`python -m flowyard.kube.datum_step`), run as
the pods would run them (see kube_pods.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from kube_pods import Pods, platform_store, staging_env

from flowyard.data.pipelines import DataPipelines
from flowyard.kube.project import load_project
from flowyard.kube.render import render_project

pytestmark = pytest.mark.slow  # a dozen interpreter starts

UPPER = Path(__file__).resolve().parents[1] / "data" / "transforms" / "upper.py"


def _job(pods: Pods) -> tuple[list[str], list[str], subprocess.CompletedProcess[str]]:
    """list -> process each item -> commit with the loop's aggregated outputs."""
    listed, datums = pods.run("list-datums")
    assert listed.returncode == 0, listed.stderr
    items = json.loads(datums or "")
    results = []
    for proc, result in _fan_out(pods, items):
        assert proc.returncode == 0, proc.stderr
        results.append(result or "")
    committed, _ = pods.run("commit", {"results": json.dumps(results)})
    return items, results, committed


def _fan_out(pods: Pods, items: list[str]
             ) -> list[tuple[subprocess.CompletedProcess[str], str | None]]:
    """One process-datum pod per item, all at once as Argo's loop starts them; in order."""
    with ThreadPoolExecutor(max_workers=len(items)) as pool:
        return list(pool.map(lambda item: pods.run("process-datum", {"datum": item}), items))


def _pipeline(transform: str) -> dict[str, Any]:
    return {"apiVersion": "flowyard.dev/v1alpha1", "kind": "DataPipeline",
            "metadata": {"name": "shout"},
            "spec": {"input": {"pfs": {"repo": "raw", "glob": "/*"}},
                     "transform": {"python": f"{UPPER}:{transform}"},
                     "datumTries": 2}}


def _workflow(make_project: Callable[..., Path], s3_endpoint: str,
              transform: str = "upper") -> dict[str, Any]:
    project = make_project([_pipeline(transform)],
                           environments={"staging": staging_env(s3_endpoint)})
    rendered = render_project(load_project(project), "staging")
    return next(o for o in rendered.objects if o["kind"] == "Workflow")


def test_datum_steps_commit_the_outputs_with_provenance(
        cluster: dict[str, Any], s3_endpoint: str, tmp_path: Path,
        make_project: Callable[..., Path]) -> None:
    wf = _workflow(make_project, s3_endpoint)
    with platform_store(cluster, s3_endpoint) as ds:
        ds.create_repo("raw")
        with ds.open_commit("raw@master") as c:
            c.put_bytes("a.txt", b"alpha")
            c.put_bytes("b.txt", b"beta")
        first_input = ds.resolve("raw@master").id

    pods = Pods(wf, cluster, tmp_path)
    items, results, committed = _job(pods)
    assert committed.returncode == 0, committed.stderr
    assert len(items) == 2 and all(json.loads(r)["tree"].startswith("blake3:") for r in results)
    with platform_store(cluster, s3_endpoint) as ds:
        head = ds.resolve("shout@master")
        assert ds.read_bytes("shout@master:/a.txt") == b"ALPHA"
        assert ds.read_bytes("shout@master:/b.txt") == b"BETA"
        assert head.provenance == [first_input]
        job = DataPipelines(ds).job(uuid.UUID(pods.uid).hex)
        assert job.state == "Succeeded" and job.output_commit == head.id
        assert job.stats["processed"] == 2
        with ds.open_commit("raw@master") as c:
            c.put_bytes("c.txt", b"gamma")

    # A new Workflow run: only the new datum runs; the others' outputs are reused.
    again = Pods(wf, cluster, tmp_path)
    items, _, committed = _job(again)
    assert committed.returncode == 0, committed.stderr
    assert len(items) == 1
    with platform_store(cluster, s3_endpoint) as ds:
        assert sorted(e.path for e in ds.ls("shout@master")) == ["/a.txt", "/b.txt", "/c.txt"]
        job = DataPipelines(ds).job(uuid.UUID(again.uid).hex)
        assert job.stats["skipped"] == 2 and job.stats["processed"] == 1

    # Nothing changed: one placeholder item, no new job, no new commit.
    idle = Pods(wf, cluster, tmp_path)
    items, results, committed = _job(idle)
    assert items == ["-"] and json.loads(results[0]) == {}
    assert committed.returncode == 0 and "nothing new to commit" in committed.stderr


def test_a_failing_datum_fails_the_job_and_keeps_the_branch(
        cluster: dict[str, Any], s3_endpoint: str, tmp_path: Path,
        make_project: Callable[..., Path]) -> None:
    wf = _workflow(make_project, s3_endpoint, transform="fails_on_bad")
    with platform_store(cluster, s3_endpoint) as ds:
        ds.create_repo("raw")
        with ds.open_commit("raw@master") as c:
            c.put_bytes("good.txt", b"fine")
            c.put_bytes("worse.txt", b"this is bad")
    pods = Pods(wf, cluster, tmp_path)
    listed, datums = pods.run("list-datums")
    assert listed.returncode == 0, listed.stderr
    items = json.loads(datums or "")
    codes = {item: (proc.returncode, proc.stderr)
             for item, (proc, _) in zip(items, _fan_out(pods, items), strict=True)}
    failed = [err for code, err in codes.values() if code != 0]
    assert len(failed) == 1 and "cannot process worse.txt: it is bad" in failed[0]
    assert sorted(code for code, _ in codes.values()) == [0, 1]
    failures = json.dumps([{"displayName": "process(1:...)", "message": "Error (exit code 1)"}])
    done, _ = pods.run("finish", workflow={"status": "Failed", "failures": failures})
    assert done.returncode == 0, done.stderr
    with platform_store(cluster, s3_endpoint) as ds:
        job = DataPipelines(ds).job(uuid.UUID(pods.uid).hex)
        assert job.state == "Failed" and "exit code 1" in (job.error or "")
        assert ds.list_branches("shout")[0].head is None


@pytest.mark.parametrize(("args", "message"), [
    (["list", "--pipeline", "not-base64!", "--job", str(uuid.uuid4()), "--out", "/tmp/x"],
     "--pipeline is not a base64-encoded DataPipeline"),
    (["list", "--pipeline", "e30=", "--job", "wf-1", "--out", "/tmp/x"],
     "--job 'wf-1' is not a Workflow uid"),
])
def test_bad_arguments_exit_2_and_say_why(args: list[str], message: str,
                                          tmp_path: Path) -> None:
    if "e30=" in args:  # a valid body is needed to reach the --job check
        body = _pipeline("upper")
        import base64

        args[2] = base64.b64encode(json.dumps(body).encode()).decode()
    proc = subprocess.run([sys.executable, "-m", "flowyard.kube.datum_step", *args],
                          env={"PATH": os.environ["PATH"], "FLOWYARD_HOME": str(tmp_path)},
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2
    assert message in proc.stderr


def test_results_that_are_not_the_loop_output_are_refused(
        cluster: dict[str, Any], s3_endpoint: str, tmp_path: Path,
        make_project: Callable[..., Path]) -> None:
    wf = _workflow(make_project, s3_endpoint)
    proc, _ = Pods(wf, cluster, tmp_path).run("commit", {"results": "{not json"})
    assert proc.returncode == 2
    assert "--results is not the process loop's output list" in proc.stderr
