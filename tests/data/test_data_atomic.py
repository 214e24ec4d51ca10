"""Atomic commits under SIGKILL, and fsck (checking and collecting)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from data_helpers import SMALL_PACK, age_files, make_store

from flowyard.data import DataStore
from flowyard.settings import Settings

CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from flowyard.data import DataStore
    from flowyard.settings import Settings
    from flowyard.store.metadata import MetadataStore
    from flowyard.store.objects import ObjectStore

    tmp, src = Path(sys.argv[1]), sys.argv[2]
    ds = DataStore(MetadataStore(f"sqlite:///{tmp / 'meta.db'}"),
                   ObjectStore(str(tmp / "objects")), Settings(home=tmp / "home"),
                   pack_size=int(sys.argv[3]))

    def progress(done, total):
        if done > 3 * int(sys.argv[3]):
            (tmp / "halfway").write_text(str(done))
            time.sleep(120)  # the test SIGKILLs us here, in the middle of the put

    ds.put("big@master", [src], progress=progress)
    print("finished")
    """
)


def test_sigkill_in_the_middle_of_a_put_leaves_the_branch_alone(
    tmp_path: Path, settings: Settings, make_files: Callable[..., Path]
) -> None:
    ds = make_store(tmp_path, settings)
    ds.create_repo("big")
    first = ds.put_bytes("big@master:/old.txt", b"old").commit
    assert first is not None
    blobs_before = set(ds.objects.iter_digests())
    src = make_files("src", {f"d{i % 7}/f{i:04d}.bin": os.urandom(4096) for i in range(1000)})
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path), str(src), str(SMALL_PACK)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "halfway").exists():
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "the child never got half way"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=10)
        if proc.stdout:
            proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL

    # The branch did not move; the readers see the old commit only.
    assert ds.resolve("big@master").id == first.id
    assert [e.path for e in ds.ls("big@master")] == ["/old.txt"]
    assert [c.id for c in ds.log("big@master")] == [first.id]
    leftovers = set(ds.objects.iter_digests()) - blobs_before
    assert len(leftovers) >= 3  # staged packs of the dead put

    report = ds.fsck()
    assert report.ok, report.problems
    assert len(report.dead_commits_removed) == 1
    # A dry run removes nothing, and lists what --collect would remove, with its size.
    assert set(report.blobs_removed) == leftovers
    assert len(report.temp_files) == 1  # the pack it was filling when killed
    assert report.bytes_removed >= 3 * SMALL_PACK
    assert set(ds.objects.iter_digests()) - blobs_before == leftovers
    assert Path(report.temp_files[0]).exists()

    collected = ds.fsck(collect=True)
    assert collected.ok
    assert collected.temp_files == report.temp_files
    assert not Path(collected.temp_files[0]).exists()
    assert set(collected.blobs_removed) == leftovers
    assert collected.bytes_removed == report.bytes_removed
    assert set(ds.objects.iter_digests()) == blobs_before
    assert ds.fsck().dead_commits_removed == []

    # The same put, run to the end, works and is then fully verified.
    result = ds.put("big@master", [src])
    assert result.changed and result.files == 1001
    assert ds.fsck().ok
    ds.close()


def test_fsck_leaves_a_live_open_commit_alone(ds: DataStore) -> None:
    ds.create_repo("r")
    writer = ds.open_commit("r@master")
    writer.put_bytes("a.bin", os.urandom(600_000))
    writer._drain()
    writer.writer.flush()
    report = ds.fsck(collect=True, grace=0)
    assert report.open_commits == [writer.id]
    assert report.blobs_removed == []
    writer.finish()
    assert ds.fsck().ok


def test_fsck_finds_missing_and_corrupt_packs(ds: DataStore) -> None:
    ds.create_repo("r")
    result = ds.put_bytes("r@master:/a", os.urandom(1000))
    ds.put_bytes("r@master:/b", os.urandom(300_000))
    pack = result.packs[0]
    assert ds.fsck().ok
    path = ds.objects.local_path(pack)
    os.chmod(path, 0o644)
    path.write_bytes(b"garbage" + path.read_bytes()[7:])
    report = ds.fsck()
    assert not report.ok
    assert report.problems == [f"pack {pack} is corrupt: its content does not match its digest"]
    path.unlink()
    assert ds.fsck().problems == [f"pack {pack} is missing"]


def test_fsck_collects_blobs_of_a_deleted_repo_after_the_grace_period(ds: DataStore) -> None:
    ds.create_repo("keep")
    ds.create_repo("gone")
    shared = os.urandom(2000)
    ds.put_bytes("keep@master:/s", shared)
    ds.put_bytes("gone@master:/s", shared)
    only = ds.put_bytes("gone@master:/own", os.urandom(3000)).packs
    ds.delete_repo("gone")
    held = ds.fsck(collect=True)
    assert held.blobs_removed == []  # still inside the grace period, and said so
    assert held.blobs_in_grace >= 2 and held.bytes_in_grace > 0
    preview = ds.fsck(grace=0)  # the same rules as the collect that follows
    assert preview.blobs_in_grace == 0 and set(only) <= set(preview.blobs_removed)
    report = ds.fsck(collect=True, grace=0)
    assert set(only) <= set(report.blobs_removed)
    assert report.blobs_removed == preview.blobs_removed
    assert report.bytes_removed == preview.bytes_removed > 0
    assert ds.read_bytes("keep@master:/s") == shared
    assert ds.fsck().ok
    # A put of the collected content stores it again instead of pointing at the dead pack.
    ds.create_repo("gone")
    again = ds.put_bytes("gone@master:/s2", os.urandom(10))
    assert again.changed


def test_reput_after_collect_does_not_trust_stale_stat_cache(
    ds: DataStore, make_files: Callable[..., Path]
) -> None:
    src = make_files("src", {"a": os.urandom(5000)})
    age_files(src)
    ds.create_repo("r")
    ds.put("r@master", [src])
    ds.delete_repo("r")
    ds.fsck(collect=True, grace=0)
    ds.create_repo("r")
    result = ds.put("r@master", [src])
    assert result.files_read == 1 and result.bytes_stored == 5000
    assert ds.fsck().ok


@pytest.mark.parametrize("n", [1])
def test_reput_of_unchanged_data_reads_nothing_and_writes_nothing(
    ds: DataStore, make_files: Callable[..., Path], n: int
) -> None:
    src = make_files("src", {f"f{i}": os.urandom(100) for i in range(200)})
    age_files(src)
    ds.create_repo("r")
    ds.put("r@master", [src])
    blobs = set(ds.objects.iter_digests())
    again = ds.put("r@master", [src])
    assert not again.changed
    assert again.files_read == 0 and again.files_unchanged == 200
    assert set(ds.objects.iter_digests()) == blobs
    (src / "f3").write_bytes(b"changed")
    third = ds.put("r@master", [src])
    assert third.changed and third.files_read == 1


def test_reput_memo_is_not_fooled_by_a_put_of_the_same_folder_elsewhere(
    ds: DataStore, make_files: Callable[..., Path]
) -> None:
    src = make_files("src", {f"f{i}": os.urandom(100) for i in range(20)})
    age_files(src)
    ds.create_repo("a")
    ds.create_repo("b")
    ds.put("a@master", [src])
    assert not ds.put("a@master", [src]).changed
    (src / "f1").write_bytes(b"new content")
    age_files(src)
    assert ds.put("b@master", [src]).changed  # refreshes the stat cache rows
    again = ds.put("a@master", [src])  # every file is a stat hit now, but a is behind
    assert again.changed
    assert ds.read_bytes("a@master:/f1") == b"new content"
    ds.put_bytes("a@master:/other", b"x")  # the branch moves: the memo no longer applies
    assert not ds.put("a@master", [src]).changed
    assert ds.put("a@master", [src], sync=True).changed  # sync removes /other
    assert not ds.put("a@master", [src], sync=True).changed
