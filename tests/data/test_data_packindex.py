"""Pack index objects: one per pack, found again after a restart, checked by fsck."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from data_helpers import make_store
from sqlalchemy import func, insert, select

from flowyard.data import DataStore, packindex
from flowyard.data import schema as t
from flowyard.data.content import digest_of
from flowyard.errors import StoreError
from flowyard.settings import Settings


def index_blobs(ds: DataStore) -> list[str]:
    return ds.catalog.blobs_of_kind(packindex.KIND)


def chunk_rows(ds: DataStore) -> int:
    with ds.catalog.tx() as conn:
        return int(conn.execute(select(func.count()).select_from(t.data_chunks)).scalar_one())


def test_each_pack_gets_one_index_object_and_no_row_per_chunk(
    ds: DataStore, make_files: Callable[..., Path]
) -> None:
    files = {f"d{i % 4}/f{i:04d}": os.urandom(700 + i) for i in range(1500)}
    src = make_files("src", files)
    ds.create_repo("r")
    result = ds.put("r@master", [src])
    assert len(result.packs) >= 3
    assert chunk_rows(ds) == 0
    indexes = [packindex.decode(ds.objects.get_bytes(d), d) for d in index_blobs(ds)]
    assert sorted(ix.pack for ix in indexes) == sorted(result.packs)
    listed = {d for ix in indexes for d in ix.digests()}
    assert listed == {bytes.fromhex(digest_of(data)[7:]) for data in files.values()}
    for ix in indexes:
        assert ix.end() == ds.objects.local_path(ix.pack).stat().st_size


def test_the_index_is_read_back_after_a_restart(
    tmp_path: Path, settings: Settings, make_files: Callable[..., Path]
) -> None:
    data = {f"f{i}": os.urandom(3000) for i in range(300)}
    data["big"] = os.urandom(3 << 20)  # several content-defined chunks
    src = make_files("src", data)
    ds = make_store(tmp_path, settings)
    ds.create_repo("a")
    first = ds.put("a@master", [src])
    assert first.bytes_stored == sum(len(v) for v in data.values())
    ds.close()
    packindex._cache.clear()  # what a new process starts with

    again = make_store(tmp_path, settings)
    again.create_repo("b")
    second = again.put("b@master:/copy", [src])
    assert second.changed and second.bytes_stored == 0 and second.packs == []
    assert again.read_bytes("b@master:/copy/big") == data["big"]
    assert again.fsck().ok
    again.close()


def test_fsck_reports_a_missing_index_and_collect_forgets_it(
    ds: DataStore, make_files: Callable[..., Path]
) -> None:
    payload = os.urandom(5000)
    ds.create_repo("r")
    pack = ds.put_bytes("r@master:/a", payload).packs[0]
    [index] = index_blobs(ds)
    ds.objects.local_path(index).unlink()
    report = ds.fsck()
    assert report.problems == [
        f"pack index {index} is missing",
        f"pack {pack} has no usable index object: later puts do not find its chunks and "
        "store them again (its files still read back whole)",
    ]
    assert ds.read_bytes("r@master:/a") == payload  # the data itself is intact
    collected = ds.fsck(collect=True)
    assert index in collected.blobs_removed and pack not in collected.blobs_removed
    assert index not in index_blobs(ds)
    packindex._cache.clear()
    # Without an index the content is stored again (a new pack with its own index): found
    # again by later puts, and fsck is clean once the old pack is no longer the only copy.
    again = ds.put_bytes("r@master:/b", payload)
    assert again.bytes_stored == len(payload)
    assert ds.put_bytes("r@master:/c", payload).bytes_stored == 0


def test_fsck_reports_a_corrupt_or_damaged_index(ds: DataStore) -> None:
    ds.create_repo("r")
    ds.put_bytes("r@master:/a", os.urandom(5000))
    [index] = index_blobs(ds)
    path = ds.objects.local_path(index)
    os.chmod(path, 0o644)
    original = path.read_bytes()
    path.write_bytes(original[:-4] + b"\0\0\0\0")
    assert (
        f"pack index {index} is corrupt: its content does not match its digest"
        in ds.fsck().problems
    )
    path.write_bytes(b"JUNK" + original[4:])
    damaged = ds.fsck(verify=False).problems
    assert f"pack index {index} is damaged: not a pack index (bad magic)" in damaged
    path.write_bytes(original[:60])
    assert any("is damaged" in p and "bytes for" in p for p in ds.fsck(verify=False).problems)
    path.write_bytes(original)
    assert ds.fsck().ok


def test_truncated_and_unsorted_indexes_are_refused() -> None:
    pack = "blake3:" + "ab" * 32
    chunks = [(digest_of(bytes([i])), i * 10, 10) for i in range(5)]
    data = packindex.encode(pack, chunks)
    ix = packindex.decode(data, "blake3:x")
    assert ix.pack == pack and len(ix) == 5 and ix.end() == 50
    with pytest.raises(StoreError, match="shorter than the header"):
        packindex.decode(data[:10], "blake3:x")
    head = 44
    first, second = data[head : head + 32], data[head + 32 : head + 64]
    swapped = data[:head] + second + first + data[head + 64 :]
    with pytest.raises(StoreError, match="not sorted"):
        packindex.decode(swapped, "blake3:x").check_sorted("blake3:x")


def test_lookup_finds_chunks_across_packs(monkeypatch: pytest.MonkeyPatch) -> None:
    packs = ["blake3:" + f"{p:064x}" for p in range(3)]
    digests = [digest_of(os.urandom(8)) for _ in range(30)]
    built = [
        packindex.decode(
            packindex.encode(pack, [(d, 100 * i, 7) for i, d in enumerate(digests[p::3])]), "x")
        for p, pack in enumerate(packs)
    ]
    merged = packindex.ChunkIndex(built)
    assert len(merged) == 30
    missing = digest_of(b"not stored")
    wanted = [missing, *digests]
    found = {d: (pack, off, n) for d, pack, off, n in merged.lookup(wanted)}
    assert missing not in found and len(found) == 30
    assert found[digests[4]] == (packs[1], 100, 7)  # digests[4] is the 2nd of pack 1
    # Many digests at once take the merged (numpy) path: the same answers.
    monkeypatch.setattr(packindex, "BISECT_MAX", 0)
    merged_path = {d: (pack, off, n) for d, pack, off, n in
                   packindex.ChunkIndex(built).lookup(wanted)}
    assert merged_path == found
    assert list(packindex.ChunkIndex([]).lookup(digests)) == []


def test_rows_of_stores_written_before_index_objects_are_still_found(ds: DataStore) -> None:
    payload = os.urandom(4000)
    ds.create_repo("r")
    pack = ds.put_bytes("r@master:/a", payload).packs[0]
    [index] = index_blobs(ds)
    # What an older Flowyard left: a data_chunks row per chunk, no index object.
    ds.catalog.forget_blobs([index])
    ds.objects.delete(index)
    packindex._cache.clear()
    with ds.catalog.tx(write=True) as conn:
        conn.execute(insert(t.data_chunks), {"digest": digest_of(payload), "pack": pack,
                                             "offset": 0, "length": len(payload)})
    assert ds.fsck().ok
    assert ds.put_bytes("r@master:/b", payload).bytes_stored == 0
