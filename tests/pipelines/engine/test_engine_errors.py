"""Run-time errors name the step, the input and the bad value."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from engine_helpers import pipeline, py, step_map

from flowyard.errors import PipelineInvalid
from flowyard.pipelines.engine import Engine
from flowyard.settings import Settings
from flowyard.store.metadata import MetadataStore

ECHO = py("""
    def echo(v: str) -> str:
        return v
""", params={"v": "str"}, outputs={"Output": "str"})
MAKE = py("""
    def make(kind: str) -> dict:
        return {"list": [1, 2], "dict": {"a": 1}, "num": 3}
""", params={"kind": "str"}, outputs={"Output": "dict"})


def test_for_each_that_is_not_a_list_is_refused_at_submit(engine: Engine,
                                                          metadata: MetadataStore) -> None:
    p = pipeline("notalist", {"make": MAKE, "echo": ECHO}, [
        {"name": "make", "component": "make", "arguments": {"kind": "x"}},
        {"name": "loop", "component": "echo", "forEach": {"step": "make", "output": "Output"},
         "arguments": {"v": "x"}},
    ])
    with pytest.raises(PipelineInvalid, match=r"spec\.steps\[1\]\.forEach: step 'loop'"):
        engine.submit(p)
    assert metadata.list_runs() == []


def test_missing_item_key_names_the_item(engine: Engine, metadata: MetadataStore) -> None:
    p = pipeline("itemkey", {"echo": ECHO}, [
        {"name": "loop", "component": "echo", "forEach": {"parameter": "items"},
         "arguments": {"v": {"item": "name"}}},
    ], parameters=[{"name": "items", "type": "list"}])
    run = engine.run(p, {"items": [{"name": "a"}, {"nom": "b"}]})
    steps = step_map(metadata, run.id)
    assert steps["loop[0]"].state == "Succeeded"
    assert steps["loop[1]"].state == "Failed"
    assert steps["loop[1]"].error == "step 'loop[1]': loop item {'nom': 'b'} has no key 'name'"
    assert steps["loop"].state == "Failed" and steps["loop"].error == "iterations failed: loop[1]"


def test_loop_item_of_the_wrong_type(engine: Engine, metadata: MetadataStore) -> None:
    double = py("""
        def double(n: int) -> int:
            return 2 * n
    """, params={"n": "int"}, outputs={"Output": "int"})
    p = pipeline("itemtype", {"double": double}, [
        {"name": "loop", "component": "double", "forEach": {"parameter": "ns"},
         "arguments": {"n": {"item": True}}},
    ], parameters=[{"name": "ns", "type": "list"}])
    run = engine.run(p, {"ns": [1, "x"]})
    steps = step_map(metadata, run.id)
    assert steps["loop[0]"].outputs == {"Output": 2}
    assert steps["loop[1]"].error == "step 'loop[1]': input 'n': expected int, got str 'x'"


def test_failing_exit_handler_fails_a_successful_run(engine: Engine,
                                                     metadata: MetadataStore) -> None:
    boom = py("""
        def boom(status: dict) -> None:
            raise RuntimeError("notify failed for " + status["state"])
    """, params={"status": "dict"})
    p = pipeline("exitfail", {"echo": ECHO, "boom": boom}, [
        {"name": "work", "component": "echo", "arguments": {"v": "x"}},
    ], onExit={"name": "notify", "component": "boom",
               "arguments": {"status": {"runStatus": True}}})
    run = engine.run(p)
    assert run.state == "Failed"
    assert run.error == ("exit handler 'notify' failed: RuntimeError: notify failed for "
                         "Succeeded (<component boom>:2)")
    assert step_map(metadata, run.id)["work"].state == "Succeeded"


def test_pipeline_parallelism_limits_concurrent_steps(engine: Engine, metadata: MetadataStore,
                                                      tmp_path: Path) -> None:
    probe = py(f"""
        def probe(i: int) -> int:
            import os, time
            marker = os.path.join({str(tmp_path)!r}, f"running-{{i}}")
            open(marker, "w").close()
            time.sleep(0.1)
            count = len([n for n in os.listdir({str(tmp_path)!r}) if n.startswith("running-")])
            os.remove(marker)
            return count
    """, params={"i": "int"}, outputs={"Output": "int"})
    steps = [{"name": f"p{i}", "component": "probe", "arguments": {"i": i}} for i in range(3)]
    run = engine.run(pipeline("spec-limit", {"probe": probe}, steps, parallelism=1),
                     cache=False)
    assert run.state == "Succeeded", run.error
    assert [s.outputs["Output"] for s in metadata.get_steps(run.id)] == [1, 1, 1]


DRIVER = """
import sys
from flowyard.settings import Settings
from flowyard.store.metadata import MetadataStore
from flowyard.store.objects import ObjectStore
from flowyard.errors import PipelineInvalid
from flowyard.pipelines.engine import Engine
s = Settings(home=sys.argv[1])
engine = Engine(MetadataStore.from_settings(s), ObjectStore.from_settings(s), s, workers=2)
try:
    engine.execute(sys.argv[2])
except KeyboardInterrupt:
    sys.exit(130)
"""


def test_ctrl_c_in_the_driver_cancels_the_run(engine: Engine, metadata: MetadataStore,
                                              settings: Settings, tmp_path: Path) -> None:
    nap = py(f"""
        def nap() -> None:
            import os, time
            open({str(tmp_path / "nap.pid")!r}, "w").write(str(os.getpid()))
            time.sleep(60)
    """)
    note = py(f"""
        def note(status: dict) -> None:
            open({str(tmp_path / "status")!r}, "w").write(status["state"])
    """, params={"status": "dict"})
    run = engine.submit(pipeline("ctrlc", {"nap": nap, "note": note}, [
        {"name": "nap", "component": "nap"}],
        onExit={"name": "notify", "component": "note",
                "arguments": {"status": {"runStatus": True}}}))
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    driver = subprocess.Popen([sys.executable, str(script), str(settings.home), run.id])
    try:
        deadline = time.monotonic() + 15
        while not (tmp_path / "nap.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(driver.pid, signal.SIGINT)
        assert driver.wait(timeout=15) == 130
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
    final = metadata.get_run(run.id)
    assert final.state == "Cancelled"
    assert final.error == "interrupted in the driver (KeyboardInterrupt)"
    assert step_map(metadata, run.id)["nap"].state == "Cancelled"
    assert (tmp_path / "status").read_text() == "Cancelled"
