"""The first-put fast paths: no stat before reading, big files found by the readers, GC paused."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path

import pytest
from data_helpers import age_files, write_files

from flowyard.data import DataStore
from flowyard.errors import Conflict


def test_a_first_put_finds_big_files_among_many_small_ones(ds: DataStore,
                                                          tmp_path: Path) -> None:
    files = {f"s/{i:03}.txt": f"small {i}".encode() for i in range(100)}
    big = os.urandom(3 << 20)
    files["s/050-big.bin"] = big
    src = write_files(tmp_path / "src", files)
    age_files(src)
    ds.create_repo("r")
    first = ds.put("r@master", [src])
    assert first.files == 101 and first.files_read == 101
    assert ds.read_bytes("r@master:/s/050-big.bin") == big
    assert ds.read_bytes("r@master:/s/007.txt") == b"small 7"
    again = ds.put("r@master", [src])                  # the stat cache is used the second time
    assert not again.changed and again.files_read == 0


def test_the_gc_is_paused_only_during_a_put(ds: DataStore, tmp_path: Path) -> None:
    src = write_files(tmp_path / "src", {"a.txt": b"a"})
    ds.create_repo("r")
    assert gc.isenabled()
    ds.put("r@master", [src])
    assert gc.isenabled()
    gc.disable()
    try:
        ds.put("r@master:/b", [src])
        assert not gc.isenabled()                      # the caller's choice is kept
    finally:
        gc.enable()


@pytest.mark.parametrize("paths", [["x", "x/y"], ["d/x", "d/x/y/z"]])
def test_a_file_and_a_folder_of_the_same_name_in_one_put_clash(ds: DataStore,
                                                             paths: list[str]) -> None:
    ds.create_repo("r")
    with pytest.raises(Conflict, match=f"'/{paths[0]}'"), ds.open_commit("r@master") as c:
        for p in paths:
            c.put_bytes(p, b"data")


def test_a_put_that_changes_nothing_does_not_import_sqlalchemy(flowyard_home: Path,
                                                              tmp_path: Path) -> None:
    """On the embedded default the branch head and the commit are read through sqlite3: a
    no-change re-put skips SQLAlchemy's import, a third of its time."""
    src = write_files(tmp_path / "src", {f"f{i}.txt": b"x%d" % i for i in range(20)})
    age_files(src)
    code = (
        "import atexit, sys\n"
        "atexit.register(lambda: print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'sqlalchemy', 'alembic'}), file=sys.stderr))\n"
        "from flowyard.cli.main import main\n"
        "main(sys.argv[1:])\n"
    )

    def flowyard(*args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done

    flowyard("data", "repo", "create", "r")
    first = flowyard("data", "put", "r@master", str(src))
    assert first.stderr.splitlines()[-1] == "['sqlalchemy']"   # a commit is written
    again = flowyard("data", "put", "r@master", str(src))
    assert "no change: r@master stays at" in again.stdout.lower()
    assert again.stderr.splitlines()[-1] == "[]"


def test_native_reads_answer_as_the_catalog_does(ds: DataStore, tmp_path: Path) -> None:
    from flowyard.data.heads import native_reads

    reads = native_reads(ds.meta)
    assert reads is not None
    ds.create_repo("raw")
    ds.create_repo("out")
    raw = ds.put_bytes("raw@master:/a.csv", b"1\n")
    assert raw.commit is not None
    made = ds.put_bytes("out@master:/b.csv", b"2\n", origin="data-pipeline",
                        provenance=[raw.commit.id], info={"job": "j1"})
    assert made.commit is not None
    with ds.catalog.tx() as conn:
        expected = ds.catalog.get_commit(conn, made.commit.id)
    assert reads.commit(made.commit.id) == expected
    assert expected is not None and expected.provenance == [raw.commit.id]
    assert reads.commit("0" * 32) is None
    assert reads.branch("out", "master") == (None, made.commit.id)
    assert reads.branch("out", "dev") is None and reads.branch("nope", "master") is None
    ds.create_branch("raw@empty")
    assert reads.branch("raw", "empty") == (None, None)


def test_readers_tell_files_on_disk_from_cached_ones(tmp_path: Path) -> None:
    """The reader pool grows for files that come from the disk, found by asking the page
    cache (RWF_NOWAIT), not by timing, which a busy CPU also slows."""
    from flowyard.data.writer import PROBE_EVERY, _read_group

    root = write_files(tmp_path / "src", {f"f{i:03d}": os.urandom(1024) for i in range(64)})
    locals_ = sorted(str(p) for p in root.iterdir())
    cached = _read_group(locals_, [Path(p).name for p in locals_])
    if not cached.probed:
        pytest.skip("this file system does not answer RWF_NOWAIT reads")
    assert (cached.probed, cached.cold, cached.waited()) == (64 // PROBE_EVERY, 0, False)
    os.sync()
    for local in locals_:
        fd = os.open(local, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    cold = _read_group(locals_, [Path(p).name for p in locals_])
    if cold.cold == 0:
        pytest.skip("the page cache kept the files (tmpfs?): nothing came from the disk")
    assert cold.waited() and cold.digests == cached.digests
