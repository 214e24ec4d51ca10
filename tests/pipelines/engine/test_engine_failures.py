"""Failures: raising steps, retries with backoff, timeouts, deadlines, exit handlers."""

from __future__ import annotations

import itertools
import os
import time
from pathlib import Path

import pytest
from engine_helpers import pipeline, py, step_map

from flowyard.errors import PipelineInvalid
from flowyard.pipelines.engine import Engine, RunEvent
from flowyard.processes import pid_alive
from flowyard.store.metadata import MetadataStore

NOTE = py("""
    def note(status: dict, path: str) -> None:
        import json
        with open(path, "w") as f:
            json.dump(status, f)
""", params={"status": "dict", "path": "str"})


def _gone(pid: int) -> bool:
    """True when `pid` no longer runs (absent, or a zombie nobody reaped yet)."""
    return not pid_alive(pid)


def test_raising_step_fails_run_omits_dependents_and_exit_handler_sees_it(
        engine: Engine, metadata: MetadataStore, tmp_path: Path) -> None:
    boom = py("""
        def boom(x: int) -> int:
            print("about to fail")
            values = {"a": 1}
            return values["missing"] + x
    """, params={"x": "int"}, outputs={"Output": "int"})
    ok = py("""
        def ok(x: int) -> int:
            return x
    """, params={"x": "int"}, outputs={"Output": "int"})
    status_file = tmp_path / "status.json"
    p = pipeline("fail", {"boom": boom, "ok": ok, "note": NOTE}, [
        {"name": "boom", "component": "boom", "arguments": {"x": 1}},
        {"name": "child", "component": "ok",
         "arguments": {"x": {"step": "boom", "output": "Output"}}},
        {"name": "grandchild", "component": "ok", "after": ["child"], "arguments": {"x": 2}},
        {"name": "other-branch", "component": "ok", "arguments": {"x": 3}},
    ], onExit={"name": "notify", "component": "note",
               "arguments": {"status": {"runStatus": True}, "path": str(status_file)}})
    run = engine.run(p)
    assert run.state == "Failed"
    assert run.error is not None and "step 'boom' failed: KeyError: 'missing'" in run.error
    steps = step_map(metadata, run.id)
    assert steps["boom"].state == "Failed" and steps["boom"].exit_code == 1
    assert "<component boom>:4" in steps["boom"].error
    assert steps["child"].state == "Omitted"
    assert steps["child"].error == "upstream step 'boom' failed"
    assert steps["grandchild"].state == "Omitted"
    assert steps["other-branch"].state == "Succeeded"   # other branches keep running
    log = Path(steps["boom"].log_path).read_text()
    assert "about to fail" in log and "Traceback" in log
    assert 'return values["missing"] + x' in log and "KeyError: 'missing'" in log
    assert steps["notify"].state == "Succeeded"
    import json
    status = json.loads(status_file.read_text())
    assert status["state"] == "Failed" and status["run_id"] == run.id
    assert "boom" in status["error"]


def test_retry_with_backoff_then_success(engine: Engine, metadata: MetadataStore,
                                         tmp_path: Path, recorder: object) -> None:
    counter = tmp_path / "count"
    flaky = py(f"""
        def flaky() -> int:
            import os
            path = {str(counter)!r}
            n = int(open(path).read()) + 1 if os.path.exists(path) else 1
            open(path, "w").write(str(n))
            if n < 3:
                raise RuntimeError(f"flaky failure {{n}}")
            return n
    """, outputs={"Output": "int"})
    p = pipeline("retry", {"flaky": flaky}, [
        {"name": "f", "component": "flaky",
         "retry": {"limit": 3, "backoff": {"duration": "200ms", "factor": 2}}},
    ])
    started = time.monotonic()
    seen: list[tuple[float, str, str]] = []

    def timed(event: RunEvent) -> None:
        recorder(event)  # type: ignore[operator]
        if event.step_id == "f":
            seen.append((time.monotonic(), event.state, event.message or ""))

    run = engine.run(p, on_event=timed)
    elapsed = time.monotonic() - started
    assert run.state == "Succeeded", run.error
    step = step_map(metadata, run.id)["f"]
    assert step.attempt == 3 and step.outputs == {"Output": 3}
    assert elapsed >= 0.6                # waited 0.2 s then 0.4 s
    # Start to start of the attempts: the attempt's own run plus at least the back-off asked
    # for, and not wildly more (a loaded machine delays a start by seconds, not by tens).
    starts = [t for t, state, _ in seen if state == "Running"]
    assert len(starts) == 3, seen
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert 0.2 <= gaps[0] < 10 and 0.4 <= gaps[1] < 10, gaps
    messages = [e.message or "" for e in recorder.events if e.step_id == "f"]  # type: ignore[attr-defined]
    assert any(m.startswith("retry 1/3 in 0.2s") for m in messages)
    assert any(m.startswith("retry 2/3 in 0.4s") for m in messages)
    log = Path(step.log_path).read_text()
    assert "--- attempt 1 ---" in log and "--- attempt 3 ---" in log
    assert "flaky failure 2" in log


def test_retries_exhausted_fail_the_step(engine: Engine, metadata: MetadataStore) -> None:
    always = py("""
        def always() -> None:
            raise ValueError("nope")
    """)
    p = pipeline("exhaust", {"always": always}, [
        {"name": "a", "component": "always", "retry": {"limit": 1}}])
    run = engine.run(p)
    step = step_map(metadata, run.id)["a"]
    assert run.state == "Failed" and step.state == "Failed"
    assert step.attempt == 2 and step.error.startswith("ValueError: nope")


def test_timeout_kills_the_step_and_its_grandchildren(engine: Engine, metadata: MetadataStore,
                                                       tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    hang = py(f"""
        def hang() -> None:
            import subprocess, time
            child = subprocess.Popen(["sleep", "60"])
            open({str(pid_file)!r}, "w").write(str(child.pid))
            time.sleep(60)
    """)
    # 4 s: time for the step to start its grandchild and write the pid even on a loaded box.
    p = pipeline("timeout", {"hang": hang}, [{"name": "h", "component": "hang", "timeout": 4}])
    started = time.monotonic()
    run = engine.run(p)
    assert time.monotonic() - started < 30   # the step alone would sleep 60 s
    step = step_map(metadata, run.id)["h"]
    assert run.state == "Failed"
    assert step.state == "Failed" and step.error == "timed out after 4s"
    grandchild = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while not _gone(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(grandchild), f"grandchild {grandchild} survived the timeout"
    assert step.pid is not None and _gone(step.pid)


def test_run_deadline_kills_everything(engine: Engine, metadata: MetadataStore,
                                       tmp_path: Path) -> None:
    sleep = py("""
        def sleep(s: float) -> None:
            import time
            time.sleep(s)
    """, params={"s": "float"})
    status_file = tmp_path / "status.json"
    p = pipeline("deadline", {"sleep": sleep, "note": NOTE}, [
        {"name": "long", "component": "sleep", "arguments": {"s": 30}},
        {"name": "later", "component": "sleep", "after": ["long"], "arguments": {"s": 0}},
    ], deadline="1s", onExit={"name": "notify", "component": "note",
                              "arguments": {"status": {"runStatus": True},
                                            "path": str(status_file)}})
    started = time.monotonic()
    run = engine.run(p)
    assert time.monotonic() - started < 10
    assert run.state == "Failed" and run.error == "run deadline of 1s exceeded"
    steps = step_map(metadata, run.id)
    assert steps["long"].state == "Failed" and steps["long"].error == run.error
    assert steps["later"].state == "Omitted"
    assert steps["notify"].state == "Succeeded" and '"Failed"' in status_file.read_text()


def test_syntax_error_is_rejected_before_anything_runs(engine: Engine,
                                                      metadata: MetadataStore) -> None:
    broken = {"python": {"function": "f", "source": "def f(:\n    pass\n"}}
    with pytest.raises(PipelineInvalid, match=r"components\.broken.*does not parse"):
        engine.run(pipeline("syntax", {"broken": broken}, [{"name": "s", "component": "broken"}]))
    assert metadata.list_runs() == []


def test_step_process_dying_without_result(engine: Engine, metadata: MetadataStore) -> None:
    die = py("""
        def die() -> None:
            import os
            os._exit(7)
    """)
    run = engine.run(pipeline("die", {"die": die}, [{"name": "d", "component": "die"}]))
    step = step_map(metadata, run.id)["d"]
    assert step.state == "Failed" and step.exit_code == 7
    assert step.error == "the step process exited with code 7 without a result"


def test_zygote_is_gone_after_close(metadata: MetadataStore, settings: object,
                                    objects: object) -> None:
    eng = Engine(metadata, objects, settings, workers=1)  # type: ignore[arg-type]
    eng._pool.start()
    pid = eng._pool.pid
    assert pid is not None and not _gone(pid)
    eng.close()
    assert _gone(pid) or not os.path.exists(f"/proc/{pid}")
