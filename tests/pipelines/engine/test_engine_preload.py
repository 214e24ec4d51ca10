"""Preloading the modules components import: found by ast, imported once in the zygote."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from engine_helpers import pipeline, py, step_map

from flowyard.pipelines.engine import Engine
from flowyard.pipelines.engine.preload import (
    MAX_MODULES,
    modules_in_source,
    preload_modules,
    select_modules,
)
from flowyard.settings import Settings
from flowyard.store.metadata import MetadataStore
from flowyard.store.objects import ObjectStore

PROBE = '''\
import os
import sys
IMPORTED_IN = os.getpid()
print("probe module says hello on stdout")   # must not reach the zygote's report pipe
'''

# Returns the pid that imported the probe: the zygote's when it was preloaded.
STEP = py("""
def probe() -> list:
    import os
    import fy_preload_probe
    return [fy_preload_probe.IMPORTED_IN, os.getpid(), os.getppid()]
""", outputs={"Output": "list"})

BROKEN = py("""
def broken() -> int:
    import fy_preload_broken
    return 1
""", outputs={"Output": "int"})


def test_modules_are_found_in_the_source_without_running_it() -> None:
    source = (
        "def f(x):\n"
        "    import numpy as np, os\n"
        "    from sklearn.linear_model import LogisticRegression\n"
        "    from . import sibling\n"
        "    if x:\n"
        "        import pandas.io.json\n"
        "    raise SystemExit('never run')\n"
    )
    assert modules_in_source(source) == ["numpy", "os", "sklearn.linear_model", "pandas.io.json"]
    assert modules_in_source("def f(:\n") == []


def test_stdlib_flowyard_and_fork_unsafe_packages_are_left_out() -> None:
    names = ["subprocess", "json", "flowyard.dsl", "tensorflow.keras", "torch", "__future__",
             "numpy", "numpy", "sklearn.metrics"]
    assert select_modules(names) == ["numpy", "sklearn.metrics"]
    many = [f"pkg{i}" for i in range(MAX_MODULES + 10)]
    assert len(select_modules(many)) == MAX_MODULES


def test_preload_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    p = pipeline("pre", {"probe": STEP}, [{"name": "a", "component": "probe"}])
    assert preload_modules(p.spec) == ["fy_preload_probe"]
    monkeypatch.setenv("FLOWYARD_PRELOAD", "0")
    assert preload_modules(p.spec) == []


@pytest.fixture
def probe_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "probe"
    folder.mkdir()
    (folder / "fy_preload_probe.py").write_text(PROBE)
    (folder / "fy_preload_broken.py").write_text("raise RuntimeError('broken at import')\n")
    # The zygote is a new interpreter: it finds the modules through PYTHONPATH.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(folder), *filter(None, [os.environ.get("PYTHONPATH")])]))
    return folder


def _engine(settings: Settings) -> tuple[Engine, MetadataStore]:
    metadata = MetadataStore.from_settings(settings)
    return Engine(metadata, ObjectStore.from_settings(settings), settings, workers=2), metadata


def _wait_ready(engine: Engine) -> None:
    pool = engine._pool
    pool.start()
    # Generous: a zygote's interpreter can take many seconds to start on a loaded machine.
    limit = time.monotonic() + 120
    while not pool.ready and time.monotonic() < limit:
        pool.pump(0.1)
    assert pool.ready


@pytest.mark.parametrize("warm_first", [False, True], ids=["cold", "spares-forked-before"])
def test_steps_inherit_modules_imported_once_in_the_zygote(
    probe_path: Path, settings: Settings, warm_first: bool
) -> None:
    engine, metadata = _engine(settings)
    try:
        if warm_first:
            # Idle spares exist before the preload request: they must be retired, not used.
            _wait_ready(engine)
        steps = [{"name": f"s{i}", "component": "probe"} for i in range(4)]
        run = engine.run(pipeline("pre", {"probe": STEP}, steps), cache=False)
        assert run.state == "Succeeded", run.error
        zygote = engine._pool.pid
        for rec in step_map(metadata, run.id).values():
            imported_in, pid, parent = rec.outputs["Output"]
            assert parent == zygote
            assert imported_in == zygote != pid, rec.id
    finally:
        engine.close()
        metadata.close()


def test_without_preload_each_step_imports_for_itself(
    probe_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWYARD_PRELOAD", "0")
    engine, metadata = _engine(settings)
    try:
        run = engine.run(pipeline("pre", {"probe": STEP}, [{"name": "a", "component": "probe"}]),
                         cache=False)
        assert run.state == "Succeeded", run.error
        imported_in, pid, _ = step_map(metadata, run.id)["a"].outputs["Output"]
        assert imported_in == pid
    finally:
        engine.close()
        metadata.close()


def test_a_module_failing_at_import_fails_only_its_step(
    probe_path: Path, settings: Settings
) -> None:
    engine, metadata = _engine(settings)
    try:
        p = pipeline("pre", {"probe": STEP, "broken": BROKEN},
                     [{"name": "ok", "component": "probe"}, {"name": "bad", "component": "broken"}])
        run = engine.run(p, cache=False)
        steps = step_map(metadata, run.id)
        assert steps["ok"].state == "Succeeded"
        assert steps["bad"].state == "Failed"
        log = Path(steps["bad"].log_path or "").read_text()
        assert "broken at import" in log
    finally:
        engine.close()
        metadata.close()


CRASH = py("""
def crash() -> int:
    import fy_preload_crash
    return 1
""", outputs={"Output": "int"})


def test_a_module_that_kills_the_zygote_at_import_is_not_preloaded_again(
    probe_path: Path, settings: Settings
) -> None:
    (probe_path / "fy_preload_crash.py").write_text(
        "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
    engine, metadata = _engine(settings)
    try:
        p = pipeline("pre", {"probe": STEP, "crash": CRASH},
                     [{"name": "ok", "component": "probe"}, {"name": "bad", "component": "crash"}])
        first = engine.run(p, cache=False)
        assert first.state == "Failed"
        assert "executor process died" in (step_map(metadata, first.id)["ok"].error or "")
        # The next run of the same engine: a new zygote, no preload; only the crashing
        # step fails, by its own import.
        second = engine.run(p, cache=False)
        steps = step_map(metadata, second.id)
        assert steps["ok"].state == "Succeeded", steps["ok"].error
        assert steps["bad"].state == "Failed"
        assert "signal 9" in (steps["bad"].error or "")
    finally:
        engine.close()
        metadata.close()
