"""The data layer on PostgreSQL, and two writers racing for one branch."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from flowyard.data import DataStore
from flowyard.settings import Settings
from flowyard.store.metadata import MetadataStore
from flowyard.store.objects import ObjectStore


@pytest.mark.postgres
def test_core_operations_on_postgresql(pg_url: str, tmp_path: Path, settings: Settings) -> None:
    ds = DataStore(MetadataStore(pg_url), ObjectStore(str(tmp_path / "objects")), settings,
                   pack_size=64 << 10, owns_stores=True)
    try:
        ds.create_repo("raw")
        ds.create_repo("derived")
        blobs = {f"f{i}": os.urandom(10_000) for i in range(20)}
        with ds.open_commit("raw@master", message="batch") as commit:
            for name, data in blobs.items():
                commit.put_bytes(name, data)
        again = ds.put_bytes("raw@master:/f3", blobs["f3"])
        assert not again.changed
        ds.put_bytes("raw@master:/f3", b"changed")
        ds.put_bytes("derived@master:/out", b"o", origin="data-pipeline",
                     provenance=["raw@master"])
        assert [d.path for d in ds.diff("raw@master^", "raw@master")] == ["/f3"]
        assert ds.read_bytes("raw@master^:/f3") == blobs["f3"]
        assert [c.repo for c in ds.subvenance("raw@master")] == ["derived"]
        assert ds.resolve(f"raw@{ds.resolve('raw@master').id[:6]}~1").message == "batch"
        report = ds.fsck()
        assert report.ok and report.commits == 3
        ds.delete_repo("derived")
        assert ds.fsck(collect=True, grace=0).ok
        assert ds.read_bytes("raw@master:/f0") == blobs["f0"]
    finally:
        ds.close()


def test_two_writers_on_one_branch_both_land(ds: DataStore) -> None:
    ds.create_repo("r")
    ds.put_bytes("r@master:/base", b"base")
    first = ds.open_commit("r@master", message="first")
    second = ds.open_commit("r@master", message="second")
    first.put_bytes("a", b"from first")
    second.put_bytes("b", b"from second")
    first.finish()
    result = second.finish()  # the head moved: merged onto it, not lost
    assert result.changed
    assert [e.path for e in ds.ls("r@master")] == ["/a", "/b", "/base"]
    assert [c.message for c in ds.log("r@master")] == ["second", "first", ""]
