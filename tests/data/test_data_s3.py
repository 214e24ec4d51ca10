"""The same operations with blobs on S3 (a moto server on loopback) and on local disk."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from data_helpers import age_files

from flowyard.data import DataStore


def test_put_get_dedup_and_fsck_on_each_backend(
    any_ds: DataStore, make_files: Callable[..., Path], tmp_path: Path
) -> None:
    ds = any_ds
    big = os.urandom(3 << 20)
    files = {f"s/{i:03d}.txt": os.urandom(700) for i in range(300)}
    files["big.bin"] = big
    files["dup.bin"] = big
    src = make_files("src", files)
    age_files(src)
    ds.create_repo("r")
    first = ds.put("r@master:/data", [src])
    assert first.changed and first.bytes_stored == len(big) + 300 * 700
    blobs = sorted(ds.objects.iter_digests())
    assert len(blobs) < 30
    again = ds.put("r@master:/data", [src])
    assert not again.changed and again.files_read == 0
    (src / "s" / "007.txt").write_bytes(b"new")
    third = ds.put("r@master:/data", [src])
    assert third.changed and third.bytes_stored == 3
    assert [d.path for d in ds.diff("r@master^", "r@master")] == ["/data/s/007.txt"]
    out = tmp_path / "out"
    result = ds.get("r@master:/data", out)
    assert result.files == 302
    assert (out / "big.bin").read_bytes() == big
    assert (out / "s" / "007.txt").read_bytes() == b"new"
    assert ds.read_bytes("r@master^:/data/s/007.txt") == files["s/007.txt"]
    report = ds.fsck()
    assert report.ok, report.problems
    assert report.packs >= 1 and report.trees == 2
