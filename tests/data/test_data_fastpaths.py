"""The first-put fast paths: no stat before reading, big files found by the readers, GC paused."""

from __future__ import annotations

import gc
import os
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
