"""What a step can leave behind: processes it started outside its group, damaged inputs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from engine_helpers import pipeline, py, step_map

from flowyard.pipelines.engine import Engine
from flowyard.processes import pid_alive
from flowyard.resources.pipeline import Pipeline
from flowyard.settings import Settings
from flowyard.store.metadata import MetadataStore
from flowyard.store.objects import ObjectStore


def _gone(pid: int) -> bool:
    """True when `pid` no longer runs (absent, or a zombie nobody reaped yet)."""
    return not pid_alive(pid)


def _wait_gone(pid: int, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not _gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return _gone(pid)


def _session_sleeper(pid_file: Path, *, hang: bool) -> dict[str, object]:
    return py(f"""
        def spawn() -> None:
            import subprocess, time
            child = subprocess.Popen(["sleep", "1000"], start_new_session=True)
            open({str(pid_file)!r}, "w").write(str(child.pid))
            if {hang!r}:
                time.sleep(60)
    """)


def _watcher(pid_file: Path) -> dict[str, object]:
    """A step that waits (up to 10 s) until the pid in `pid_file` has gone.

    While it runs the zygote has a running step, so what it observes is the step's own
    kill, not the zygote's clean-up of orphans once no step runs.
    """
    return py(f"""
        def watch() -> bool:
            import os, time
            deadline = time.monotonic() + 10
            while not os.path.exists({str(pid_file)!r}) and time.monotonic() < deadline:
                time.sleep(0.02)
            pid = int(open({str(pid_file)!r}).read())
            while time.monotonic() < deadline:
                try:
                    with open(f"/proc/{{pid}}/stat") as handle:
                        if handle.read().rsplit(")", 1)[1].split()[0] == "Z":
                            return True
                except FileNotFoundError:
                    return True
                time.sleep(0.02)
            return False
    """, outputs={"Output": "bool"})


def test_timeout_kills_what_the_step_started_in_a_session_of_its_own(
        engine: Engine, metadata: MetadataStore, tmp_path: Path) -> None:
    pid_file = tmp_path / "sleeper.pid"
    p = pipeline("session-timeout", {"spawn": _session_sleeper(pid_file, hang=True),
                                     "watch": _watcher(pid_file)},
                 [{"name": "s", "component": "spawn", "timeout": 2},
                  {"name": "w", "component": "watch"}])
    run = engine.run(p)
    steps = step_map(metadata, run.id)
    assert steps["s"].state == "Failed" and steps["s"].error == "timed out after 2s"
    sleeper = int(pid_file.read_text())
    assert _wait_gone(sleeper), f"sleep {sleeper} (own session) survived the timeout"
    assert steps["w"].outputs == {"Output": True}, "killed only once no step ran"


def _runs_and_leaves_nothing(engine: Engine, metadata: MetadataStore, p: Pipeline,
                             pid_file: Path) -> None:
    """`p` succeeds; the sleep its step `s` started (pid in `pid_file`) is gone once `s`
    ended, and step `w` (the watcher) saw it alive while it was still running."""
    run = engine.run(p)
    assert run.state == "Succeeded"
    sleeper = int(pid_file.read_text())
    assert _wait_gone(sleeper), f"sleep {sleeper} outlived its step"
    assert step_map(metadata, run.id)["w"].outputs == {"Output": True}


def test_a_finished_step_leaves_nothing_running_in_another_session(
        engine: Engine, metadata: MetadataStore, tmp_path: Path) -> None:
    pid_file = tmp_path / "sleeper.pid"
    p = pipeline("session-done", {"spawn": _session_sleeper(pid_file, hang=False),
                                  "watch": _watcher(pid_file)},
                 [{"name": "s", "component": "spawn"}, {"name": "w", "component": "watch"}])
    _runs_and_leaves_nothing(engine, metadata, p, pid_file)


def test_what_a_thread_of_the_step_left_running_is_killed_too(
        engine: Engine, metadata: MetadataStore, tmp_path: Path) -> None:
    # A child is listed under the thread that started it, not the main thread.
    pid_file = tmp_path / "sleeper.pid"
    spawn = py(f"""
        def spawn() -> None:
            import os, subprocess, threading, time
            def start() -> None:
                child = subprocess.Popen(["sleep", "1000"], start_new_session=True)
                open({str(pid_file)!r} + ".tmp", "w").write(str(child.pid))
                os.rename({str(pid_file)!r} + ".tmp", {str(pid_file)!r})
                time.sleep(1000)
            threading.Thread(target=start, daemon=True).start()
            while not os.path.exists({str(pid_file)!r}):
                time.sleep(0.01)
    """)
    p = pipeline("thread-child", {"spawn": spawn, "watch": _watcher(pid_file)},
                 [{"name": "s", "component": "spawn"}, {"name": "w", "component": "watch"}])
    _runs_and_leaves_nothing(engine, metadata, p, pid_file)


def _daemon(pid_file: Path) -> dict[str, object]:
    # The daemon's parent (sh) exits at once, so it is no descendant of the step any more:
    # it is reparented to the zygote (a child subreaper).
    return py(f"""
        def daemon() -> None:
            import subprocess
            subprocess.run(["sh", "-c", "setsid sleep 1000 & echo $! > {pid_file}"],
                           check=True)
    """)


def test_a_daemon_that_double_forked_is_killed_once_no_step_runs(
        engine: Engine, metadata: MetadataStore, tmp_path: Path) -> None:
    pid_file = tmp_path / "daemon.pid"
    run = engine.run(pipeline("daemon", {"daemon": _daemon(pid_file)},
                              [{"name": "d", "component": "daemon"}]))
    assert run.state == "Succeeded"
    sleeper = int(pid_file.read_text())
    assert _wait_gone(sleeper), f"daemon {sleeper} outlived the run"


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


def test_nothing_a_step_started_outlives_the_engine(
        engine: Engine, metadata: MetadataStore, settings: Settings, tmp_path: Path) -> None:
    # A daemon left by a finished step while another step still runs is only known to the
    # zygote as an orphan; when the driver dies, the zygote kills it with everything else.
    daemon_pid, hang_pid = tmp_path / "daemon.pid", tmp_path / "hang.pid"
    hang = py(f"""
        def hang() -> None:
            import os, time
            open({str(hang_pid)!r}, "w").write(str(os.getpid()))
            time.sleep(60)
    """)
    run = engine.submit(pipeline("orphans", {"daemon": _daemon(daemon_pid), "hang": hang}, [
        {"name": "d", "component": "daemon"}, {"name": "h", "component": "hang"}]))
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    driver = subprocess.Popen([sys.executable, str(script), str(settings.home), run.id])
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (
                hang_pid.exists() and metadata.get_step(run.id, "d").state == "Succeeded"):
            time.sleep(0.05)
        assert hang_pid.exists() and metadata.get_step(run.id, "d").state == "Succeeded"
        daemon = int(daemon_pid.read_text())
    finally:
        # Whether the daemon still lives here depends on timing (the step's own exit check
        # may have caught it before it detached): only "gone after the engine" is promised.
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(timeout=10)
    assert _wait_gone(int(hang_pid.read_text()), 10)
    assert _wait_gone(daemon, 10), f"daemon {daemon} outlived the engine"


WRITE = py("""
    def make(text: str, data: Output[Dataset]) -> None:
        open(data.path, "w").write(text)
""", params={"text": "str"}, outputs_art={"data": "Dataset"})
READ = py("""
    def read(data: Input[Dataset]) -> str:
        return open(data.path).read()
""", inputs_art={"data": "Dataset"}, outputs={"Output": "str"})
SPOIL = py("""
    def spoil(data: Input[Dataset]) -> str:
        before = open(data.path).read()
        with open(data.path, "w") as f:
            f.write("corrupted!")
        return before
""", inputs_art={"data": "Dataset"}, outputs={"Output": "str"})


def test_a_step_writing_to_its_input_fails_and_nothing_serves_the_damaged_blob(
        engine: Engine, metadata: MetadataStore, objects: ObjectStore) -> None:
    spoiling = pipeline("spoil", {"make": WRITE, "spoil": SPOIL, "read": READ}, [
        {"name": "make", "component": "make", "arguments": {"text": "good bytes"}},
        {"name": "spoil", "component": "spoil",
         "arguments": {"data": {"step": "make", "output": "data"}}},
        {"name": "read", "component": "read", "after": ["spoil"],
         "arguments": {"data": {"step": "make", "output": "data"}}},
    ])
    run = engine.run(spoiling)
    steps = step_map(metadata, run.id)
    assert steps["make"].state == "Succeeded"
    assert steps["spoil"].state == "Failed" and steps["read"].state == "Omitted"
    error = steps["spoil"].error
    assert error.startswith("input artifact 'data' was modified by the step")
    assert "shared read-only files" in error and "Output artifact" in error
    digest = metadata.get_artifact(steps["make"].output_artifacts["data"]).digest
    assert not objects.exists(digest)   # it no longer matches its digest

    # Another pipeline with the same upstream step: no cache hit on the removed blob, the
    # step runs again and its reader gets the real bytes.
    reading = pipeline("read-again", {"make": WRITE, "read": READ}, [
        {"name": "make", "component": "make", "arguments": {"text": "good bytes"}},
        {"name": "read", "component": "read",
         "arguments": {"data": {"step": "make", "output": "data"}}},
    ])
    again = engine.run(reading)
    steps = step_map(metadata, again.id)
    assert again.state == "Succeeded"
    assert steps["make"].state == "Succeeded" and not steps["make"].cache_hit
    assert steps["read"].outputs == {"Output": "good bytes"}
    assert objects.get_bytes(digest) == b"good bytes"


def test_a_step_writing_into_a_file_of_its_input_folder_fails(
        engine: Engine, metadata: MetadataStore, objects: ObjectStore) -> None:
    # The folder is materialized for the step with hard links to the blobs.
    folder = py("""
        def folder(out: Output[Artifact]) -> None:
            import os
            os.makedirs(out.path)
            open(os.path.join(out.path, "a.txt"), "w").write("aaa")
            open(os.path.join(out.path, "b.txt"), "w").write("bbb")
    """, outputs_art={"out": "Artifact"})
    spoil = py("""
        def spoil(tree: Input[Artifact]) -> None:
            import os
            os.remove(os.path.join(tree.path, "a.txt"))   # its own folder: allowed
            with open(os.path.join(tree.path, "b.txt"), "a") as f:
                f.write("more")
    """, inputs_art={"tree": "Artifact"})
    run = engine.run(pipeline("spoil-tree", {"folder": folder, "spoil": spoil}, [
        {"name": "f", "component": "folder"},
        {"name": "s", "component": "spoil", "arguments": {"tree": {"step": "f", "output": "out"}}},
    ]))
    steps = step_map(metadata, run.id)
    assert steps["s"].state == "Failed"
    assert steps["s"].error.startswith(
        "input artifact 'tree' (its file 'b.txt') was modified by the step")
    tree = metadata.get_artifact(steps["f"].output_artifacts["out"]).digest
    entries = objects.tree_entries(tree)
    assert objects.exists(entries["a.txt"]["digest"])        # only unlinked from the folder
    assert not objects.exists(entries["b.txt"]["digest"])


def test_steps_reading_the_same_inputs_at_once_are_not_taken_for_writers(
        engine: Engine, metadata: MetadataStore) -> None:
    # Hard-linking a blob into another step's folder changes its ctime: not a write.
    folder = py("""
        def folder(out: Output[Artifact]) -> None:
            import os
            os.makedirs(out.path)
            open(os.path.join(out.path, "a.txt"), "w").write("aaa")
    """, outputs_art={"out": "Artifact"})
    read_tree = py("""
        def read_tree(tree: Input[Artifact], data: Input[Dataset], i: int) -> str:
            import os, time
            time.sleep(0.2)
            return open(os.path.join(tree.path, "a.txt")).read() + open(data.path).read()
    """, inputs_art={"tree": "Artifact", "data": "Dataset"}, params={"i": "int"},
        outputs={"Output": "str"})
    steps = [{"name": "f", "component": "folder"},
             {"name": "m", "component": "make", "arguments": {"text": "ddd"}}]
    steps += [{"name": f"r{i}", "component": "read_tree",
               "arguments": {"i": i, "tree": {"step": "f", "output": "out"},
                             "data": {"step": "m", "output": "data"}}} for i in range(4)]
    run = engine.run(pipeline("readers", {"folder": folder, "make": WRITE,
                                          "read_tree": read_tree}, steps))
    assert run.state == "Succeeded"
    assert all(s.outputs == {"Output": "aaaddd"}
               for s in metadata.get_steps(run.id) if s.id.startswith("r"))
