"""Two real OS processes open (and migrate) the same fresh database and write at once."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import URL

from flowyard.store.metadata import MetadataStore

WRITER = r"""
import sys, time
from pathlib import Path
from flowyard.store.metadata import MetadataStore
from flowyard.store.records import ArtifactRecord, CacheEntry, RunRecord, StepRecord

url, me, sync, n = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
(sync / f"ready-{me}").touch()
while not (sync / "go").exists():
    time.sleep(0.005)
store = MetadataStore(url)                      # both processes race to migrate
run = f"run-{me}"
store.create_run(RunRecord(run, "default", "p", {}, {}),
                 [StepRecord(run, f"s[{i}]", "s", i, "c") for i in range(n)])
for i in range(n):
    step = StepRecord(run, f"s[{i}]", "s", i, "c", state="Running")
    store.save_step(step)
    step.state = "Succeeded"
    art = ArtifactRecord(f"{run}-a{i}", run, step.id, "out", "Dataset", "blake3:" + "0" * 64, 1)
    store.finish_step(step, [art], CacheEntry(f"{run}-k{i}", run, step.id, {}, {}))
    store.put_resource("Counter", "default", "shared", {"spec": {"by": me, "i": i}})
store.close()
"""


@pytest.fixture(
    params=["sqlite", "sqlite+pysqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param.startswith("sqlite"):
        return f"{request.param}:///{tmp_path / 'shared.db'}"
    make: Callable[[], URL] = request.getfixturevalue("pg_database")
    return make().render_as_string(hide_password=False)


def test_two_processes_write_the_same_database(fresh_url: str, tmp_path: Path) -> None:
    n = 60
    sync = tmp_path / "sync"
    sync.mkdir()
    procs = []
    logs = []
    for me in ("a", "b"):
        log = tmp_path / f"writer-{me}.err"
        logs.append(log)
        with open(log, "wb") as err:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-c", WRITER, fresh_url, me, str(sync), str(n)], stderr=err
                )
            )
    try:
        deadline = time.monotonic() + 30
        while not all((sync / f"ready-{me}").exists() for me in ("a", "b")):
            assert time.monotonic() < deadline, "writers did not start"
            assert all(p.poll() is None for p in procs), [log.read_text() for log in logs]
            time.sleep(0.01)
        (sync / "go").touch()
        codes = [p.wait(timeout=60) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert codes == [0, 0], [log.read_text() for log in logs]
    assert all("locked" not in log.read_text() for log in logs)

    store = MetadataStore(fresh_url)
    try:
        for me in ("a", "b"):
            steps = store.get_steps(f"run-{me}")
            assert [s.state for s in steps] == ["Succeeded"] * n
            assert len(store.list_artifacts(run_id=f"run-{me}")) == n
        # 2n spec changes of one resource, each bumping the generation exactly once
        assert store.get_resource("Counter", "default", "shared")["metadata"]["generation"] == 2 * n
    finally:
        store.close()


@pytest.fixture(params=["sqlite", "sqlite+pysqlite"])
def sqlite_scheme(request: pytest.FixtureRequest) -> str:
    """Both ways into a SQLite file: sqlite3 for a run's calls, or SQLAlchemy for all."""
    return str(request.param)


def test_a_forked_child_gets_its_own_connections(tmp_path: Path, sqlite_scheme: str) -> None:
    import os

    from flowyard.store.records import RunRecord

    store = MetadataStore(f"{sqlite_scheme}:///{tmp_path / 'fork.db'}")
    store.create_run(RunRecord("parent", "default", "p", {}, {}))
    pid = os.fork()
    if pid == 0:  # child: use the inherited store, then leave without running pytest's cleanup
        code = 1
        try:
            store.create_run(RunRecord("child", "default", "p", {}, {}))
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert {r.id for r in store.list_runs()} == {"parent", "child"}
    store.close()


def test_a_writer_waits_for_the_lock_instead_of_failing(
    tmp_path: Path, sqlite_scheme: str
) -> None:
    import sqlite3
    import threading

    from flowyard.store.records import RunRecord

    db = tmp_path / "locked.db"
    store = MetadataStore(f"{sqlite_scheme}:///{db}")
    other = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the lock for a moment
    release = threading.Timer(0.5, other.execute, ["COMMIT"])
    release.start()
    try:
        started = time.monotonic()
        store.create_run(RunRecord("r", "default", "p", {}, {}))
        assert time.monotonic() - started >= 0.4
    finally:
        release.join()
        other.close()
        store.close()
