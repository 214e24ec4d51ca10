"""Durability: cancel from elsewhere, SIGKILL of the driver then resume, retry of a failed run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from engine_helpers import pipeline, py, step_map

from flowyard.errors import Conflict
from flowyard.pipelines.engine import Engine
from flowyard.resources.pipeline import Pipeline
from flowyard.settings import Settings
from flowyard.store.metadata import MetadataStore
from flowyard.store.objects import ObjectStore


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found


def _wait_for(predicate: object, timeout: float = 60.0) -> None:
    # Generous: a driver process boots its interpreter in seconds on a loaded machine.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout}s")


def _tally(folder: Path) -> dict[str, object]:
    """A component that appends its name to a tally file, optionally blocking on a gate."""
    return py(f"""
        def work(name: str, block: bool = False) -> str:
            import os, time
            with open(os.path.join({str(folder)!r}, "tally"), "a") as f:
                f.write(name + "\\n")
            open(os.path.join({str(folder)!r}, name + ".pid"), "w").write(str(os.getpid()))
            while block and not os.path.exists(os.path.join({str(folder)!r}, "open")):
                time.sleep(0.05)
            return name
    """, params={"name": "str", "block": "bool"}, outputs={"Output": "str"},
        defaults={"block": False})


def _sleepy_pipeline(folder: Path, *, on_exit: bool = False) -> Pipeline:
    note = py(f"""
        def note(status: dict) -> None:
            open({str(folder / "exit-status")!r}, "w").write(status["state"])
    """, params={"status": "dict"})
    extra = ({"onExit": {"name": "notify", "component": "note",
                         "arguments": {"status": {"runStatus": True}}}} if on_exit else {})
    return pipeline("durable", {"work": _tally(folder), "note": note}, [
        {"name": "a", "component": "work", "arguments": {"name": "a"}},
        {"name": "b", "component": "work", "arguments": {"name": "b"}, "after": ["a"]},
        {"name": "slow", "component": "work", "arguments": {"name": "slow", "block": True},
         "after": ["b"]},
        {"name": "last", "component": "work", "arguments": {"name": "last"}, "after": ["slow"]},
    ], **extra)


def test_cancel_from_another_thread(engine: Engine, metadata: MetadataStore,
                                    objects: ObjectStore, settings: Settings,
                                    tmp_path: Path) -> None:
    run = engine.submit(_sleepy_pipeline(tmp_path, on_exit=True))
    other = Engine(MetadataStore.from_settings(settings), objects, settings)

    def cancel_when_slow_runs() -> None:
        _wait_for(lambda: (tmp_path / "slow.pid").exists())
        other.cancel(run.id)

    thread = threading.Thread(target=cancel_when_slow_runs)
    thread.start()
    started = time.monotonic()
    final = engine.execute(run.id)
    thread.join()
    assert time.monotonic() - started < 10
    assert final.state == "Cancelled" and final.error == "the run was cancelled"
    steps = step_map(metadata, run.id)
    assert steps["a"].state == steps["b"].state == "Succeeded"
    assert steps["slow"].state == "Cancelled" and steps["last"].state == "Cancelled"
    assert (tmp_path / "exit-status").read_text() == "Cancelled"
    _wait_for(lambda: _gone(int((tmp_path / "slow.pid").read_text())))
    other.metadata.close()


def test_cancel_from_another_process(engine: Engine, metadata: MetadataStore,
                                     settings: Settings, tmp_path: Path) -> None:
    run = engine.submit(_sleepy_pipeline(tmp_path))
    script = textwrap.dedent(f"""
        import sys, time, os
        from flowyard.settings import Settings
        from flowyard.store.metadata import MetadataStore
        from flowyard.store.objects import ObjectStore
        from flowyard.pipelines.engine import Engine
        while not os.path.exists({str(tmp_path / "slow.pid")!r}):
            time.sleep(0.05)
        s = Settings(home={str(settings.home)!r})
        Engine(MetadataStore.from_settings(s), ObjectStore.from_settings(s), s).cancel({run.id!r})
    """)
    canceller = subprocess.Popen([sys.executable, "-c", script])
    try:
        final = engine.execute(run.id)
    finally:
        canceller.wait(timeout=30)
    assert canceller.returncode == 0
    assert final.state == "Cancelled"
    assert step_map(metadata, run.id)["slow"].state == "Cancelled"


def _cancel_runs_the_exit_handler(engine: Engine, metadata: MetadataStore, run_id: str,
                                  folder: Path, *, ran: list[str]) -> None:
    """Cancel a run nobody drives: the steps in `ran` stay Succeeded, the other main steps are
    Cancelled, and the exit handler ran and saw the cancel."""
    assert engine.cancel(run_id).state == "Cancelled"
    states = {s.id: s.state for s in metadata.get_steps(run_id)}
    expected = {n: "Succeeded" if n in ran else "Cancelled" for n in ("a", "b", "slow", "last")}
    assert states == {**expected, "notify": "Succeeded"}
    assert (folder / "exit-status").read_text() == "Cancelled"


def test_cancel_of_a_run_without_driver(engine: Engine, metadata: MetadataStore,
                                        tmp_path: Path) -> None:
    run = engine.submit(_sleepy_pipeline(tmp_path, on_exit=True))
    # Nothing ran but the exit handler, which always runs and saw the cancel.
    _cancel_runs_the_exit_handler(engine, metadata, run.id, tmp_path, ran=[])
    assert not (tmp_path / "tally").exists()
    with pytest.raises(Conflict, match="Cancelled, not Pending"):
        engine.execute(run.id)


DRIVER = """
import sys
from flowyard.settings import Settings
from flowyard.store.metadata import MetadataStore
from flowyard.store.objects import ObjectStore
from flowyard.pipelines.engine import Engine
s = Settings(home=sys.argv[1])
engine = Engine(MetadataStore.from_settings(s), ObjectStore.from_settings(s), s, workers=2)
engine.execute(sys.argv[2])
"""


def test_sigkill_of_the_driver_then_resume(engine: Engine, metadata: MetadataStore,
                                           settings: Settings, tmp_path: Path) -> None:
    run = engine.submit(_sleepy_pipeline(tmp_path))
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    driver = subprocess.Popen([sys.executable, str(script), str(settings.home), run.id])
    try:
        _wait_for(lambda: metadata.get_step(run.id, "slow").state == "Running"
                  and (tmp_path / "slow.pid").exists())
        assert metadata.get_run(run.id).driver_pid == driver.pid
        slow_pid = int((tmp_path / "slow.pid").read_text())
        zygotes = _children(driver.pid)
        assert zygotes, "the driver has no zygote child"
        os.kill(driver.pid, signal.SIGKILL)
    finally:
        driver.wait(timeout=10)
    # The zygote saw its stdin close, killed the step's process group and exited.
    _wait_for(lambda: _gone(slow_pid))
    _wait_for(lambda: all(_gone(z) for z in zygotes))
    stored = metadata.get_run(run.id)
    assert stored.state == "Running"
    states = {s.id: s.state for s in metadata.get_steps(run.id)}
    assert states == {"a": "Succeeded", "b": "Succeeded", "slow": "Running", "last": "Pending"}
    assert not metadata.list_artifacts(run_id=run.id)

    (tmp_path / "open").write_text("")
    final = engine.resume(run.id)
    assert final.state == "Succeeded", final.error
    steps = step_map(metadata, run.id)
    assert steps["slow"].attempt == 2 and steps["a"].attempt == 1
    assert (tmp_path / "tally").read_text().split() == ["a", "b", "slow", "slow", "last"]
    log = Path(steps["slow"].log_path).read_text()
    assert "--- attempt 1 ---" in log and "--- attempt 2 ---" in log


def test_cancel_after_sigkill_of_the_driver_runs_the_exit_handler(
        engine: Engine, metadata: MetadataStore, settings: Settings, tmp_path: Path) -> None:
    run = engine.submit(_sleepy_pipeline(tmp_path, on_exit=True))
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    driver = subprocess.Popen([sys.executable, str(script), str(settings.home), run.id])
    try:
        _wait_for(lambda: (tmp_path / "slow.pid").exists())
        os.kill(driver.pid, signal.SIGKILL)
    finally:
        driver.wait(timeout=10)
    assert metadata.get_run(run.id).state == "Running"   # nobody drives it any more
    _cancel_runs_the_exit_handler(engine, metadata, run.id, tmp_path, ran=["a", "b"])
    assert (tmp_path / "tally").read_text().split() == ["a", "b", "slow"]   # slow not rerun


def test_resume_refuses_a_live_driver(engine: Engine, metadata: MetadataStore,
                                      tmp_path: Path) -> None:
    run = engine.submit(_sleepy_pipeline(tmp_path))
    metadata.update_run(run.id, state="Running", driver_pid=os.getpid(),
                        driver_host=os.uname().nodename)
    with pytest.raises(Conflict, match=rf"still driven by process {os.getpid()}"):
        engine.resume(run.id)


def test_retry_of_a_failed_run_reuses_succeeded_steps(engine: Engine, metadata: MetadataStore,
                                                      tmp_path: Path) -> None:
    flag = tmp_path / "fixed"
    gate = py(f"""
        def gate(x: str) -> str:
            import os
            with open({str(tmp_path / "tally")!r}, "a") as f:
                f.write("gate\\n")
            if not os.path.exists({str(flag)!r}):
                raise RuntimeError("not fixed yet")
            return x + "!"
    """, params={"x": "str"}, outputs={"Output": "str"})
    p = pipeline("retry-run", {"work": _tally(tmp_path), "gate": gate}, [
        {"name": "a", "component": "work", "arguments": {"name": "a"}},
        {"name": "g", "component": "gate", "arguments": {"x": {"step": "a", "output": "Output"}}},
        {"name": "z", "component": "work", "arguments": {"name": "z"}, "after": ["g"]},
    ], outputs={"g": {"step": "g", "output": "Output"}})
    first = engine.run(p, cache=False)
    assert first.state == "Failed"
    assert step_map(metadata, first.id)["z"].state == "Omitted"
    flag.write_text("")
    again = engine.retry(first.id)
    assert again.id == first.id and again.state == "Succeeded", again.error
    assert again.outputs == {"g": "a!"}
    steps = step_map(metadata, first.id)
    assert steps["a"].attempt == 1 and steps["g"].attempt == 2 and steps["z"].attempt == 1
    assert (tmp_path / "tally").read_text().split() == ["a", "gate", "gate", "z"]
    with pytest.raises(Conflict, match="only Failed or Cancelled runs"):
        engine.retry(first.id)


def test_resume_and_retry_inside_a_loop(engine: Engine, metadata: MetadataStore,
                                        settings: Settings, tmp_path: Path) -> None:
    item = py(f"""
        def item(i: int) -> int:
            import os, time
            folder = {str(tmp_path)!r}
            with open(os.path.join(folder, "tally"), "a") as f:
                f.write(f"{{i}}\\n")
            if i == 2:
                open(os.path.join(folder, "two.pid"), "w").write(str(os.getpid()))
                while not os.path.exists(os.path.join(folder, "open")):
                    time.sleep(0.05)
            if i == 3 and not os.path.exists(os.path.join(folder, "fixed")):
                raise RuntimeError("three is broken")
            return i * 10
    """, params={"i": "int"}, outputs={"Output": "int"})
    total = py("""
        def total(xs: list) -> int:
            return sum(xs)
    """, params={"xs": "list"}, outputs={"Output": "int"})
    p = pipeline("loop-durable", {"item": item, "total": total}, [
        {"name": "each", "component": "item", "forEach": [0, 1, 2, 3],
         "arguments": {"i": {"item": True}}},
        {"name": "sum", "component": "total",
         "arguments": {"xs": {"step": "each", "output": "Output", "collect": True}}},
    ], outputs={"sum": {"step": "sum", "output": "Output"}})
    run = engine.submit(p, cache=False)
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    driver = subprocess.Popen([sys.executable, str(script), str(settings.home), run.id])
    try:
        def others_done() -> bool:
            states = {s.id: s.state for s in metadata.get_steps(run.id)}
            return (states.get("each[2]") == "Running"
                    and all(states.get(f"each[{i}]") in ("Succeeded", "Failed")
                            for i in (0, 1, 3)))
        _wait_for(others_done)
        os.kill(driver.pid, signal.SIGKILL)
    finally:
        driver.wait(timeout=10)
    (tmp_path / "open").write_text("")
    resumed = engine.resume(run.id)
    assert resumed.state == "Failed"            # each[3] failed for real, before the kill
    steps = step_map(metadata, run.id)
    assert steps["each[2]"].state == "Succeeded" and steps["each[2]"].attempt == 2
    assert steps["each[3]"].state == "Failed" and steps["sum"].state == "Omitted"
    (tmp_path / "fixed").write_text("")
    final = engine.retry(run.id)
    assert final.state == "Succeeded", final.error
    assert final.outputs == {"sum": 60}
    steps = step_map(metadata, run.id)
    assert [steps[f"each[{i}]"].attempt for i in range(4)] == [1, 1, 2, 2]
    assert steps["each"].state == "Succeeded" and steps["each"].error is None
    assert sorted((tmp_path / "tally").read_text().split()) == ["0", "1", "2", "2", "3", "3"]
