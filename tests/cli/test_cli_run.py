"""`flowyard run`, `runs ...`, `compile` and `validate` against the real embedded runtime."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

DATA = Path(__file__).parent / "data"
BASIC = f"{DATA / 'cli_basic.py'}:basic"
FAILING = f"{DATA / 'cli_failing.py'}:failing"
ENTRY_POINT = Path(sys.executable).parent / "flowyard"

Cli = Callable[..., Any]


def run_json(cli: Cli, *args: str) -> tuple[int, dict[str, Any], str]:
    result = cli("run", *args, "--output", "json")
    return result.code, json.loads(result.out), result.err


def test_run_succeeds_with_a_table_and_progress_on_stderr(cli: Cli) -> None:
    result = cli("run", BASIC, "-p", "count=4", "-p", "scale=0.5")
    assert result.code == 0, result.err
    assert "Succeeded" in result.out
    assert "make-numbers" in result.out and "total" in result.out
    assert "count=4" in result.out
    # progress and the final line go to stderr, the report to stdout
    assert "✓ make-numbers" in result.err
    assert "Succeeded in" in result.err


def test_run_json_output_parses_and_types_parameters(cli: Cli) -> None:
    code, body, _ = run_json(cli, BASIC, "-p", "count=4", "-p", "scale=0.5", "-p", "label=7")
    assert code == 0
    assert body["state"] == "Succeeded"
    assert body["parameters"] == {"count": 4, "scale": 0.5, "label": "7"}
    assert body["outputs"]["total"] == 3.0  # (0+1+2+3) * 0.5
    assert [s["id"] for s in body["steps"]] == ["make-numbers", "total"]
    assert [a["name"] for a in body["artifacts"]] == ["numbers"]


def test_run_yaml_output_parses(cli: Cli) -> None:
    result = cli("run", BASIC, "-o", "yaml")
    assert result.code == 0
    assert yaml.safe_load(result.out)["state"] == "Succeeded"


def test_second_run_is_cached_unless_no_cache(cli: Cli) -> None:
    run_json(cli, BASIC)
    _, cached, _ = run_json(cli, BASIC)
    assert {s["state"] for s in cached["steps"]} == {"Cached"}
    _, fresh, _ = run_json(cli, BASIC, "--no-cache")
    assert {s["state"] for s in fresh["steps"]} == {"Succeeded"}


def test_failing_run_exits_1_and_points_at_the_logs(cli: Cli) -> None:
    result = cli("run", FAILING, "-p", "message=kaboom")
    assert result.code == 1
    assert "Failed" in result.out
    assert "step explode failed" in result.err and "kaboom" in result.err
    assert "flowyard runs logs" in result.err
    assert "Traceback (most recent call last)" not in result.err.split("step explode")[0]


def test_runs_list_get_logs_and_artifacts(cli: Cli, tmp_path: Path) -> None:
    _, body, _ = run_json(cli, BASIC, "-p", "count=3")
    run_id = body["id"]

    listed = cli("runs", "list")
    assert listed.code == 0 and run_id in listed.out
    as_json = json.loads(cli("runs", "list", "-o", "json", "--state", "Succeeded").out)
    assert [r["id"] for r in as_json] == [run_id]
    assert json.loads(cli("runs", "list", "-o", "json", "--state", "Failed").out) == []
    # There are runs, none of them Failed: that is no match, not "no runs yet".
    none_failed = cli("runs", "list", "--state", "Failed", "--pipeline", "basic")
    assert none_failed.code == 0
    assert none_failed.out.strip() == "no runs match --pipeline basic --state Failed"

    shown = cli("runs", "get", run_id)
    assert shown.code == 0 and run_id in shown.out and "numbers" in shown.out
    got = json.loads(cli("runs", "get", run_id, "-o", "json").out)
    assert got["id"] == run_id and got["outputs"] == {"total": 3.0}

    logs = cli("runs", "logs", run_id)
    assert logs.code == 0
    assert "[make-numbers] wrote 3 numbers" in logs.out and "[total] sum 3" in logs.out
    one = cli("runs", "logs", run_id, "--step", "total")
    assert "sum 3" in one.out and "wrote" not in one.out
    missing = cli("runs", "logs", run_id, "--step", "nope")
    assert missing.code == 2 and "'nope'" in missing.err and "make-numbers" in missing.err

    artifacts = json.loads(cli("runs", "artifacts", run_id, "-o", "json").out)
    (numbers,) = artifacts
    dest = tmp_path / "out.txt"
    downloaded = cli("runs", "download", numbers["id"], str(dest))
    assert downloaded.code == 0, downloaded.err
    assert dest.read_text() == "0\n1\n2"
    again = cli("runs", "download", numbers["id"], str(dest))
    assert again.code == 2 and str(dest) in again.err


def test_retry_of_a_failed_run_reruns_it(cli: Cli) -> None:
    code, body, _ = run_json(cli, FAILING)
    assert code == 1
    retried = cli("runs", "retry", body["id"])
    assert retried.code == 1  # still failing: same component, same error
    steps = json.loads(cli("runs", "get", body["id"], "-o", "json").out)["steps"]
    assert steps[0]["attempt"] >= 2


def test_resume_of_a_finished_run_is_a_conflict(cli: Cli) -> None:
    _, body, _ = run_json(cli, BASIC)
    result = cli("runs", "resume", body["id"])
    assert result.code == 2
    assert body["id"] in result.err


def test_detached_run_finishes_in_the_background(cli: Cli, wait_driver_gone: Any) -> None:
    from flowyard.client import Client

    result = cli("run", BASIC, "--detach", "-p", "count=6")
    assert result.code == 0, result.err
    run_id = result.out.strip()
    with Client() as client:
        run = client.get_run(run_id).wait(timeout=120)
    assert run.state == "Succeeded"
    assert run.outputs == {"total": 15.0}
    follow = cli("runs", "logs", run_id, "--follow")
    assert "[total] sum 15" in follow.out
    wait_driver_gone(run_id)


def test_cancel_stops_a_running_run(cli: Cli, wait_driver_gone: Any) -> None:
    from flowyard.client import Client

    result = cli("run", f"{DATA / 'cli_slow.py'}:slow", "--detach")
    run_id = result.out.strip()
    with Client() as client:
        deadline = time.monotonic() + 60
        while client.get_run(run_id).steps[0].state != "Running":
            assert time.monotonic() < deadline, "the step never started"
            time.sleep(0.1)
        cancelled = cli("runs", "cancel", run_id)
        assert cancelled.code == 0, cancelled.err
        run = client.get_run(run_id).wait(timeout=60)
    assert run.state == "Cancelled"
    wait_driver_gone(run_id)


def test_compile_writes_yaml_that_runs(cli: Cli, tmp_path: Path) -> None:
    target = tmp_path / "out" / "basic.yaml"
    result = cli("compile", BASIC, "-o", str(target))
    assert result.code == 0, result.err
    assert "wrote" in result.err
    doc = yaml.safe_load(target.read_text())
    assert doc["kind"] == "Pipeline" and doc["metadata"]["name"] == "basic"
    stdout = cli("compile", BASIC)
    assert stdout.out == target.read_text()
    code, body, _ = run_json(cli, str(target), "-p", "count=2")
    assert code == 0 and body["outputs"] == {"total": 1.0}


def test_validate_reports_every_problem_with_its_place(cli: Cli, tmp_path: Path) -> None:
    good = cli("compile", BASIC, "-o", str(tmp_path / "good" / "basic.yaml"))
    assert good.code == 0
    ok = cli("validate", str(tmp_path / "good"))
    assert ok.code == 0 and "Pipeline/basic" in ok.out

    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: flowyard.dev/v1alpha1\nkind: Pipeline\nmetadata: {name: Bad_Name}\n"
        "spec:\n  components: {}\n  steps:\n  - name: a\n    component: missing\n"
        "    retires: 3\n"
    )
    result = cli("validate", str(bad), str(tmp_path / "good"))
    assert result.code == 2
    assert "Traceback" not in result.err
    assert f"{bad}:3" in result.err  # metadata.name, with its line
    assert "retires" in result.err  # the typo'd field, reported in the same pass


def test_validate_missing_path_is_bad_input(cli: Cli, tmp_path: Path) -> None:
    result = cli("validate", str(tmp_path / "nope"))
    assert result.code == 2 and "nope" in result.err


def test_real_process_run_and_exit_codes(flowyard_home: Path) -> None:
    ok = subprocess.run([str(ENTRY_POINT), "run", BASIC, "-o", "json"],
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["state"] == "Succeeded"
    failed = subprocess.run([str(ENTRY_POINT), "run", FAILING],
                            capture_output=True, text=True, timeout=120)
    assert failed.returncode == 1
    assert "Traceback" not in failed.stderr.split("step explode")[0]
    missing = subprocess.run([str(ENTRY_POINT), "run", "missing.yaml"],
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "missing.yaml" in missing.stderr


def _wait_until_its_step_runs(proc: subprocess.Popen[Any]) -> str:
    """The id of the run `proc` (a `flowyard run` of cli_slow) drives, once its step runs."""
    from flowyard.client import Client

    with Client() as client:
        deadline = time.monotonic() + 60
        while not (client.runs() and client.get_run(client.runs()[0].id).steps
                   and client.get_run(client.runs()[0].id).steps[0].state == "Running"):
            assert time.monotonic() < deadline and proc.poll() is None, "never started"
            time.sleep(0.1)
        return client.runs()[0].id


def test_ctrl_c_cancels_the_run_cleanly(flowyard_home: Path) -> None:
    import signal


    proc = subprocess.Popen(
        [str(ENTRY_POINT), "run", f"{DATA / 'cli_slow.py'}:slow", "-o", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        _wait_until_its_step_runs(proc)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, err
    assert "cancelling run" in err
    body = json.loads(out)
    assert body["state"] == "Cancelled"
    assert body["steps"][0]["state"] == "Cancelled"


def test_resume_runs_a_run_nobody_drove(cli: Cli) -> None:
    from flowyard.client import Client

    with Client() as client:
        pipeline = client.load(BASIC)
        record = client.transport.submit(pipeline, {"count": 4}, cache=True, namespace=None,
                                         labels=None)
    assert record.state == "Pending"
    result = cli("runs", "resume", record.id, "-o", "json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["outputs"] == {"total": 6.0}


def test_retry_in_the_background(cli: Cli, wait_driver_gone: Any) -> None:
    from flowyard.client import Client

    code, body, _ = run_json(cli, FAILING)
    assert code == 1
    result = cli("runs", "retry", body["id"], "--detach")
    assert result.code == 0 and result.out.strip() == body["id"]
    with Client() as client:
        deadline = time.monotonic() + 60
        run = client.get_run(body["id"])
        while run.steps[0].attempt < 2 or not run.done:
            assert time.monotonic() < deadline, "the retry never ran"
            time.sleep(0.1)
            run = client.get_run(body["id"])
    assert run.state == "Failed"
    wait_driver_gone(body["id"])
    succeeded = cli("runs", "retry", run_json(cli, BASIC)[1]["id"], "--detach")
    assert succeeded.code == 2 and "only Failed or Cancelled" in succeeded.err


def test_a_run_whose_driver_was_killed_says_so_and_cancels(cli: Cli, flowyard_home: Path) -> None:
    import signal


    proc = subprocess.Popen([str(ENTRY_POINT), "run", f"{DATA / 'cli_slow.py'}:slow"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        run_id = _wait_until_its_step_runs(proc)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    shown = cli("runs", "get", run_id)
    assert shown.code == 0
    assert f"process {proc.pid}" in shown.out and "is gone" in shown.out
    assert f"flowyard runs resume {run_id}" in shown.out
    cancelled = cli("runs", "cancel", run_id)
    assert cancelled.code == 0, cancelled.err
    assert cancelled.out.strip() == f"run {run_id} Cancelled"
    assert "is gone" not in cli("runs", "get", run_id).out
