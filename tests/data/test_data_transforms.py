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
    for pid in children:   # the sleeps the datums started are gone too
        for _ in range(100):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            pytest.fail(f"process {pid} started by a timed-out datum is still running")


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
