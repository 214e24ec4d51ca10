"""Content storage: dedup across files/repos/commits, chunk reuse, packing, tree pages."""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from pathlib import Path

from flowyard.data import DataStore
from flowyard.data.content import SMALL_FILE, FileEntry, cut
from flowyard.data.tree import PAGE_FANOUT, load_entries, read_tree, write_tree
from flowyard.store.objects import ObjectStore


def blob_count(objects: ObjectStore) -> int:
    return sum(1 for _ in objects.iter_digests())


def blob_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in (root / "blobs").rglob("*") if p.is_file())


def test_identical_content_is_stored_once_across_files_repos_and_commits(
    ds: DataStore, make_files: Callable[..., Path], tmp_path: Path
) -> None:
    data = os.urandom(200_000)
    src = make_files("src", {"a.bin": data, "sub/b.bin": data, "c.bin": data})
    ds.create_repo("one")
    ds.create_repo("two")
    first = ds.put("one@master", [src])
    assert first.bytes_stored == len(data)
    again = ds.put("two@master:/copy", [src])
    assert again.changed and again.bytes_stored == 0
    third = ds.put_bytes("one@master:/d.bin", data)
    assert third.changed and third.bytes_stored == 0
    assert ds.read_bytes("two@master:/copy/sub/b.bin") == data


def test_an_append_stores_only_the_new_chunks(
    ds: DataStore, make_files: Callable[..., Path], tmp_path: Path
) -> None:
    rng = random.Random(7)
    base = rng.randbytes(12 << 20)
    src = make_files("src", {"big.bin": base})
    ds.create_repo("logs")
    first = ds.put("logs@master", [src])
    assert first.bytes_stored == len(base)
    tail = rng.randbytes(300_000)
    (src / "big.bin").write_bytes(base + tail)
    second = ds.put("logs@master", [src])
    # The chunk that held the old end is re-cut, everything before it is reused.
    assert second.changed
    assert second.bytes_stored < len(tail) + 4 * (1 << 20)
    assert second.bytes_stored < len(base) // 2
    edited = bytearray(base + tail)
    edited[5 << 20 : (5 << 20) + 10] = b"0123456789"
    (src / "big.bin").write_bytes(bytes(edited))
    third = ds.put("logs@master", [src])
    assert third.bytes_stored < 9 << 20
    assert ds.read_bytes("logs@master:/big.bin") == bytes(edited)
    assert ds.read_bytes("logs@master^:/big.bin") == base + tail
    assert ds.read_bytes("logs@master~2:/big.bin") == base


def test_many_small_files_become_few_objects(
    ds: DataStore, make_files: Callable[..., Path], tmp_path: Path
) -> None:
    files = {f"d{i % 10}/f{i:05d}.txt": os.urandom(500) for i in range(3000)}
    src = make_files("small", files)
    ds.create_repo("tiny")
    before = blob_count(ds.objects)
    result = ds.put("tiny@master", [src])
    created = blob_count(ds.objects) - before
    # 1.5 MB in 256 KiB test packs = 6 packs, plus about 3000/512 tree pages and a root.
    assert len(result.packs) <= 7
    assert created <= len(result.packs) + 3000 // PAGE_FANOUT * 3 + 2
    assert created < 40
    out = tmp_path / "out"
    ds.get("tiny@master", out)
    for rel, data in list(files.items())[::97]:
        assert (out / rel).read_bytes() == data


def test_cut_is_content_defined() -> None:
    rng = random.Random(3)
    data = rng.randbytes(8 << 20)
    a = [bytes(c) for c in cut(data)]
    b = [bytes(c) for c in cut(rng.randbytes(1000) + data)]
    assert b"".join(a) == data
    assert len(set(a) & set(b)) >= len(a) - 2


def test_tree_pages_are_reused_after_a_small_change(tmp_path: Path) -> None:
    objects = ObjectStore(str(tmp_path / "objects"))
    part = ("blake3:" + "0" * 64, 0, 1)
    entries = {
        f"f{i:06d}": FileEntry(f"f{i:06d}", 1, 0o644, "blake3:" + f"{i:064x}", (part,))
        for i in range(10_000)
    }
    first, _ = write_tree(objects, entries)
    assert len(first.pages) > 5
    entries["f005000"] = FileEntry("f005000", 2, 0o644, "blake3:" + "f" * 64, (part,))
    second, _ = write_tree(objects, entries)
    old = {p.digest for p in first.pages}
    changed = [p for p in second.pages if p.digest not in old]
    assert len(changed) == 1
    assert load_entries(objects, read_tree(objects, second.digest), "f005000")["f005000"].size == 2


def test_small_file_threshold_keeps_small_files_whole(ds: DataStore) -> None:
    ds.create_repo("r")
    data = os.urandom(SMALL_FILE - 1)
    result = ds.put_bytes("r@master:/x", data)
    assert result.commit is not None
    entry = ds.ls("r@master:/x")[0]
    assert entry.size == len(data)
