"""How datums run: Python transforms in forks of a warm zygote, each datum its own process."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from flowyard.data import DataStore
from flowyard.data.pipelines import DataPipelines
from flowyard.resources.data_pipeline import DataPipeline

HERE = Path(__file__).parent / "transforms"
WARM = HERE / "warm.py"


@pytest.fixture
def pipes(ds: DataStore) -> DataPipelines:
    ds.create_repo("raw")
    with ds.open_commit("raw@master") as c:
        for name in ("a", "b", "c", "d"):
            c.put_bytes(f"{name}.txt", f"file {name}".encode())
    return DataPipelines(ds)


def _all_gone(pids: list[int]) -> None:
    """Every one of `pids` ends within 5 s (a zombie nobody reaped yet counts as gone)."""
    from flowyard.processes import pid_alive

    for pid in pids:
        deadline = time.monotonic() + 5
        while pid_alive(pid):
            if time.monotonic() > deadline:
                pytest.fail(f"process {pid} started by a datum is still running")
            time.sleep(0.05)


def spec(python: str, **extra: object) -> dict[str, object]:
    return {"input": {"pfs": {"repo": "raw", "glob": "/*"}},
            "transform": {"python": python, "env": {"GREETING": "hi"}},
            "parallelism": 2, **extra}


def reports(ds: DataStore, repo: str) -> dict[str, dict[str, object]]:
    return {e.path: json.loads(ds.read_bytes(f"{repo}@master:{e.path}"))
            for e in ds.ls(f"{repo}@master")}


def test_python_datums_run_in_forks_of_one_warm_process(pipes: DataPipelines,
                                                         ds: DataStore) -> None:
    pipes.create(DataPipeline.build("where", spec(f"{WARM}:where")))
    job = pipes.run("where")
    assert job.state == "Succeeded", job.error
    seen = reports(ds, "where")
    assert sorted(seen) == ["/a.txt.json", "/b.txt.json", "/c.txt.json", "/d.txt.json"]
    parents = {r["ppid"] for r in seen.values()}
    assert len(parents) == 1 and os.getpid() not in parents   # one zygote, not this process
    assert len({r["pid"] for r in seen.values()}) == 4         # a process per datum
    assert all(r["pgid"] == r["pid"] for r in seen.values())   # and its own process group
    # The zygote imported what the transform's source imports; no datum saw another's state.
    assert all(r["preloaded"] for r in seen.values())
    assert not any(r["touched"] for r in seen.values())
    for r in seen.values():
        assert r["greeting"] == "hi"
        assert Path(str(r["input"])).parent == Path(str(r["cwd"]))   # cwd: the datum's folder


def test_fresh_processes_when_forking_is_turned_off(pipes: DataPipelines, ds: DataStore,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWYARD_DATUM_FORK", "0")
    pipes.create(DataPipeline.build("where", spec(f"{WARM}:where")))
    job = pipes.run("where")
    assert job.state == "Succeeded", job.error
    seen = reports(ds, "where")
    assert {r["ppid"] for r in seen.values()} == {os.getpid()}
    assert not any(r["preloaded"] for r in seen.values())
    assert all(r["greeting"] == "hi" for r in seen.values())


def test_a_module_target_found_from_the_current_folder(pipes: DataPipelines, ds: DataStore,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(HERE)
    pipes.create(DataPipeline.build("where", spec("warm:where")))
    job = pipes.run("where")
    assert job.state == "Succeeded", job.error
    assert all(r["preloaded"] for r in reports(ds, "where").values())
    # A file path is taken from the current folder too, not from the datum's.
    pipes.create(DataPipeline.build("shout", spec("upper.py:upper")))
    job = pipes.run("shout")
    assert job.state == "Succeeded", job.error
    assert ds.read_bytes("shout@master:/c.txt") == b"FILE C"


def test_a_datum_that_dies_fails_alone(pipes: DataPipelines, ds: DataStore) -> None:
    pipes.create(DataPipeline.build("crashy", spec(f"{WARM}:crash_on_b", datumTries=2)))
    job = pipes.run("crashy")
    assert job.state == "Failed"
    assert job.stats["failed"] == 1 and job.stats["processed"] == 3
    failure = job.failures[0]
    assert failure["files"] == "raw:/b.txt" and failure["attempts"] == 2
    assert "about to die" in failure["log"] and "--- attempt 2 ---" in failure["log"]
    with pytest.raises(Exception, match="no commits"):
        ds.resolve("crashy@master")   # nothing published


def test_a_missing_function_is_named(pipes: DataPipelines, ds: DataStore) -> None:
    for target in (f"{WARM}:nope", "flowyard.data.transforms:nope"):
        pipes.create(DataPipeline.build("typo", spec(target, datumTries=1)), update=True)
        job = pipes.run("typo")
        assert job.state == "Failed"
        assert "defines no function 'nope'" in job.failures[0]["log"], job.failures[0]["log"]


def test_a_hanging_datum_is_killed_with_its_children(pipes: DataPipelines, ds: DataStore,
                                                     tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    pids.mkdir()
    pipes.create(DataPipeline.build("stuck", {
        **spec(f"{WARM}:hang_with_child", datumTries=1, datumTimeout=1.0),
        "transform": {"python": f"{WARM}:hang_with_child", "env": {"PID_DIR": str(pids)}}}))
    started = time.monotonic()
    job = pipes.run("stuck")
    assert job.state == "Failed" and job.stats["failed"] == 4
    assert time.monotonic() - started < 30
    assert all("timed out after 1.0s" in f["log"] for f in job.failures)
    children = [int(p.read_text()) for p in pids.iterdir()]
    assert len(children) == 4
    _all_gone(children)   # the sleeps the datums started are gone too


def test_a_module_in_a_namespace_package(pipes: DataPipelines, ds: DataStore,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """`transforms` has no __init__.py: finding its source must not import anything."""
    monkeypatch.chdir(HERE.parent)
    pipes.create(DataPipeline.build("where", spec("transforms.warm:where")))
    job = pipes.run("where")
    assert job.state == "Succeeded", job.error
    assert all(r["preloaded"] for r in reports(ds, "where").values())


def test_two_datums_writing_one_path_fail_the_job(pipes: DataPipelines, ds: DataStore) -> None:
    pipes.create(DataPipeline.build("clash", spec(f"{WARM}:same_name")))
    job = pipes.run("clash")
    assert job.state == "Failed"
    assert "both wrote '/result.txt'" in (job.error or "")
    assert pipes.jobs("clash")[0].state == "Failed"   # recorded, not left Running
    with pytest.raises(Exception, match="no commits"):
        ds.resolve("clash@master")


def test_editing_a_module_transform_reprocesses(pipes: DataPipelines, ds: DataStore,
                                                tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    code = tmp_path / "code"
    code.mkdir()
    module = code / "tagger.py"
    module.write_text("def run(inputs, output):\n"
                      "    (output / 'tag.txt').write_text('m1')\n")
    monkeypatch.chdir(code)
    pipes.create(DataPipeline.build("tag", spec("tagger:run", **{"input": {
        "pfs": {"repo": "raw", "glob": "/"}}})))
    first = pipes.run("tag")
    assert first.state == "Succeeded", first.error
    assert pipes.run("tag").id == first.id   # unchanged: no job
    module.write_text("def run(inputs, output):\n"
                      "    (output / 'tag.txt').write_text('second')\n")
    second = pipes.run("tag")
    assert second.id != first.id and second.stats["processed"] == 1
    assert ds.read_bytes("tag@master:/tag.txt") == b"second"


@pytest.mark.parametrize("transform", [
    {"python": f"{HERE / 'upper.py'}:fails_on_bad"},
    {"cmd": ["sh", "-c", 'echo "cannot process: it is bad"; exit 3']},
])
def test_a_failed_datum_keeps_the_log_of_every_try(pipes: DataPipelines, ds: DataStore,
                                                   transform: dict[str, object]) -> None:
    ds.put_bytes("raw@master:/b.txt", b"this is bad")
    pipes.create(DataPipeline.build("picky", {**spec("x", datumTries=3), "transform": transform}))
    job = pipes.run("picky")
    assert job.state == "Failed"
    log = next(f["log"] for f in job.failures if "b.txt" in f["files"])
    for attempt in (1, 2, 3):
        assert f"--- attempt {attempt} ---" in log
    assert log.count("cannot process") == 3


KILLABLE = """
import sys
from flowyard.data import DataStore
from flowyard.data.pipelines import DataPipelines
from flowyard.settings import Settings
from flowyard.store.metadata import MetadataStore
from flowyard.store.objects import ObjectStore
tmp = sys.argv[1]
ds = DataStore(MetadataStore(f"sqlite:///{tmp}/meta.db"), ObjectStore(f"{tmp}/objects"),
               Settings(home=f"{tmp}/home"), owns_stores=True)
DataPipelines(ds).run("stuck")
"""


def test_a_job_whose_process_was_killed_is_failed_when_next_seen(
        pipes: DataPipelines, ds: DataStore, tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import tempfile

    pids = tmp_path / "pids"
    pids.mkdir()
    pipes.create(DataPipeline.build("stuck", {
        **spec(f"{WARM}:hang_with_child", datumTimeout=600),
        "transform": {"python": f"{WARM}:hang_with_child", "env": {"PID_DIR": str(pids)}}}))
    driver = subprocess.Popen([sys.executable, "-c", KILLABLE, str(tmp_path)])
    try:
        for _ in range(300):   # until the datums run (their pid files appear)
            if len(list(pids.iterdir())) >= 2:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the job's datums never started")
        running = pipes.jobs("stuck")
        assert [j.state for j in running] == ["Running"]   # its driver still lives
        assert running[0].driver_pid == driver.pid
        work = list(Path(tempfile.gettempdir()).glob(f"flowyard-job-{running[0].id[:8]}-*"))
        assert work, "the job's work folder should exist while it runs"
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait()
    [job] = pipes.jobs("stuck")
    assert job.state == "Failed"
    assert f"pid {driver.pid}" in (job.error or "") and "ended before the job finished" in (
        job.error or "")
    assert not any(p.exists() for p in work)   # its leftover work folder was removed
    with pytest.raises(Exception, match="no commits"):
        ds.resolve("stuck@master")


def test_datums_draw_their_own_random_numbers_and_import_the_users_modules_themselves(
        pipes: DataPipelines, ds: DataStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """numpy.random is preloaded (third-party) but each fork reseeds it; sidecar.py is the
    user's own module, so it is imported in each datum, not once in the zygote."""
    monkeypatch.chdir(HERE)
    pipes.create(DataPipeline.build("side", spec("uses_sidecar.py:report")))
    job = pipes.run("side")
    assert job.state == "Succeeded", job.error
    seen = list(reports(ds, "side").values())
    assert len(seen) == 4
    assert all(r["imported_by"] == r["pid"] for r in seen)
    assert len({r["draw"] for r in seen}) == 4


def test_a_command_datum_leaves_nothing_running(pipes: DataPipelines, ds: DataStore,
                                                tmp_path: Path) -> None:
    """Background children in the datum's group and in sessions of their own: killed at the
    timeout and when the datum ends, as a container's processes end with it."""
    pids = tmp_path / "pids"
    pids.mkdir()
    script = ('setsid sleep 120 & echo $! > "$PID_DIR/$(ls $FLOWYARD_INPUT/raw).session"; '
              'sleep 120 & echo $! > "$PID_DIR/$(ls $FLOWYARD_INPUT/raw).group"; '
              'case "$(ls $FLOWYARD_INPUT/raw)" in b.txt) sleep 120;; esac; '
              'cp -r "$FLOWYARD_INPUT"/raw/* "$FLOWYARD_OUTPUT"')
    pipes.create(DataPipeline.build("bg", {
        **spec("x", datumTries=1, datumTimeout=1.0),
        "transform": {"cmd": ["sh", "-c", script], "env": {"PID_DIR": str(pids)}}}))
    job = pipes.run("bg")
    assert job.state == "Failed" and job.stats["failed"] == 1   # b.txt hung
    assert "timed out after 1.0s" in job.failures[0]["log"]
    left = [int(p.read_text()) for p in pids.iterdir()]
    assert len(left) == 8
    _all_gone(left)
