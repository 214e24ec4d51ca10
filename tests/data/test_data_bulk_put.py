"""The bulk put path: read groups packed as runs, the stat cache's per-folder snapshots, and
reads that leave the files' access times alone."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from data_helpers import age_files, make_store, write_files

from flowyard.data import DataStore, statcache
from flowyard.data.content import PREFIX, PackWriter, digest_of
from flowyard.data.statcache import StatRows
from flowyard.data.writer import _read_group
from flowyard.errors import InvalidInput
from flowyard.settings import Settings
from flowyard.store.objects import ObjectStore


def _many(n: int, size: int = 700, dup_every: int = 0) -> dict[str, bytes]:
    out = {}
    for i in range(n):
        data = (b"same content" if dup_every and i % dup_every == 0
                else os.urandom(size))
        out[f"d{i % 5}/f{i:04d}.bin"] = data
    return out


def test_a_run_of_small_files_is_split_into_packs_of_the_set_size(
    tmp_path: Path, settings: Settings
) -> None:
    ds = make_store(tmp_path, settings, pack_size=64 << 10)
    files = _many(600)
    src = write_files(tmp_path / "src", files)
    ds.create_repo("r")
    result = ds.put("r@master", [src])
    assert result.files == result.files_read == 600
    # 600 x 700 bytes = 410 KiB in packs of 64 KiB (each ends with the chunk that fills it).
    assert len(result.packs) == 7
    for pack in result.packs[:-1]:
        assert 64 << 10 <= ds.objects.local_path(pack).stat().st_size < (64 << 10) + 700
    for rel, data in files.items():
        assert ds.read_bytes(f"r@master:/{rel}") == data
    assert ds.fsck(verify=True).ok


def test_duplicates_within_and_across_read_groups_are_stored_once(
    tmp_path: Path, settings: Settings
) -> None:
    ds = make_store(tmp_path, settings, pack_size=32 << 20)
    files = _many(900, dup_every=7)
    src = write_files(tmp_path / "src", files)
    ds.create_repo("r")
    result = ds.put("r@master", [src])
    unique = len(set(files.values()))
    assert result.bytes_stored == sum(len(d) for d in set(files.values()))
    assert unique < 900
    for rel, data in files.items():
        assert ds.read_bytes(f"r@master:/{rel}") == data
    # A second folder holding the same files stores nothing new.
    again = write_files(tmp_path / "again", files)
    second = ds.put("r@master:/copy/", [again])
    assert second.changed and second.bytes_stored == 0
    assert ds.read_bytes("r@master:/copy/d3/f0003.bin") == files["d3/f0003.bin"]


def test_add_run_falls_back_to_one_by_one_for_known_chunks(tmp_path: Path) -> None:
    objects = ObjectStore(str(tmp_path / "objects"))
    writer = PackWriter(objects, tmp_path, pack_size=1 << 20)
    datas = [os.urandom(100) for _ in range(4)]
    digests = [digest_of(d) for d in datas]
    sizes = [len(d) for d in datas]
    runs = writer.add_run(digests, datas, sizes)
    assert runs is not None and [len(offsets) for _, offsets in runs] == [4]
    assert runs[0][1] == [0, 100, 200, 300]
    # The same digests again, and a repeat inside one run: located one by one, not packed.
    assert writer.add_run(digests[:2], datas[:2], sizes[:2]) is None
    fresh = os.urandom(50)
    assert writer.add_run([digest_of(fresh)] * 2, [fresh] * 2, [50, 50]) is None
    writer.flush()
    assert writer.part(digest_of(fresh)) == (writer.packs[0], 400, 50)
    assert len(writer.packs) == 1 and writer.sizes[writer.packs[0]] == 450


def test_a_file_gone_between_plan_and_read_is_named(tmp_path: Path) -> None:
    there = write_files(tmp_path / "src", {"a.txt": b"a"}) / "a.txt"
    with pytest.raises(InvalidInput, match=r"cannot read .*missing\.txt"):
        _read_group([str(there), str(tmp_path / "missing.txt")], ["a.txt", "missing.txt"])


def test_reading_leaves_access_times_alone(ds: DataStore, tmp_path: Path) -> None:
    files = {f"f{i:03}.txt": f"file {i}".encode() for i in range(80)}
    src = write_files(tmp_path / "src", files)
    # atime before mtime: a relatime mount updates it on the next read, unless O_NOATIME.
    for name in files:
        os.utime(src / name, ns=(1_000_000_000, 2_000_000_000))
    ds.create_repo("r")
    ds.put("r@master", [src])
    assert {os.stat(src / name).st_atime_ns for name in files} == {1_000_000_000}


def test_snapshot_round_trip_with_odd_names_and_many_parts() -> None:
    pack_a, pack_b = PREFIX + "aa" * 32, PREFIX + "bb" * 32
    rows = StatRows()
    root = "/data/in"
    odd = root + "/sub/caf\udce9 \u00e9\u6f22.bin"  # an undecodable byte, kept as a surrogate
    rows.add(root + "/a.bin", (10, 1, 2, 3), 0o644, "11" * 32, ((pack_a, 0, 10),))
    rows.add(odd, (5 << 20, 4, 5, 6), 0o755, PREFIX + "22" * 32,
             ((pack_a, 10, 1 << 20), (pack_b, 0, 4 << 20)))
    rows.add(root + "/empty", (0, 7, 8, 9), 0o600, "33" * 32, ((pack_b, 4 << 20, 0),))
    back = statcache.decode(root, statcache.encode(root, rows))
    decoded = dict(zip(back.locals, zip(back.keys, back.modes, back.digests, back.parts,
                                        strict=True), strict=True))
    assert decoded == {
        root + "/a.bin": ((10, 1, 2, 3), 0o644, "11" * 32, ((pack_a, 0, 10),)),
        odd: ((5 << 20, 4, 5, 6), 0o755, "22" * 32,
              ((pack_a, 10, 1 << 20), (pack_b, 0, 4 << 20))),
        root + "/empty": ((0, 7, 8, 9), 0o600, "33" * 32, ((pack_b, 4 << 20, 0),)),
    }
    one = StatRows()
    one.add("/data/file.bin", (1, 2, 3, 4), 0o644, "44" * 32, ((pack_a, 0, 1),))
    assert statcache.decode("/data/file.bin",
                            statcache.encode("/data/file.bin", one)).locals == ["/data/file.bin"]
    assert len(statcache.decode(root, statcache.encode(root, StatRows()))) == 0
    data = statcache.encode(root, rows)
    with pytest.raises(ValueError, match="wrong length"):
        statcache.decode(root, data + b"x")
    with pytest.raises(ValueError, match="not a stat cache snapshot"):
        statcache.decode(root, b"JUNK" + data[4:])


def test_a_folder_put_uses_the_snapshots_of_folders_around_it(
    ds: DataStore, tmp_path: Path
) -> None:
    files = {f"part{i % 3}/f{i:03}.bin": os.urandom(300) for i in range(120)}
    src = write_files(tmp_path / "src", files)
    age_files(src)
    ds.create_repo("r")
    # The inner folder first: the outer put then reads only the files outside it.
    inner = ds.put("r@master:/part1/", [src / "part1"])
    assert inner.files_read == 40
    outer = ds.put("r@master", [src])
    assert outer.files_read == 80 and outer.files_unchanged == 40
    # Its snapshot replaced the inner one, and serves a put of an inner folder.
    assert ds.put("r@master:/part2/", [src / "part2"]).files_read == 0
    assert ds.put("r@master", [src]).files_read == 0
    cache = ds.stat_cache
    assert cache.has_rows(str(src / "part0")) and not cache.has_rows(str(tmp_path / "other"))


def test_a_damaged_or_collected_snapshot_only_costs_a_read(
    ds: DataStore, tmp_path: Path
) -> None:
    files = {f"f{i:03}.bin": os.urandom(200) for i in range(100)}
    src = write_files(tmp_path / "src", files)
    age_files(src)
    ds.create_repo("r")
    first = ds.put("r@master", [src])
    db = sqlite3.connect(ds.stat_cache.path)
    with db:
        db.execute("UPDATE snapshots SET data = substr(data, 1, 100)")
    db.close()
    again = ds.put("r@master:/copy/", [src])          # a damaged snapshot: read again
    assert again.files_read == 100 and again.bytes_stored == 0
    assert ds.put("r@master:/copy/", [src]).files_read == 0
    ds.stat_cache.forget_packs({PREFIX + "00" * 32})  # a pack it does not name: kept
    assert ds.stat_cache.has_rows(str(src))
    ds.stat_cache.forget_packs(set(first.packs))       # collected packs: forgotten
    assert not ds.stat_cache.has_rows(str(src))
    assert ds.put("r@master:/copy/", [src]).files_read == 100


def test_a_stat_cache_that_cannot_be_opened_does_not_stop_a_put(tmp_path: Path) -> None:
    blocker = tmp_path / "home"
    blocker.write_text("a file where the cache folder should be")
    cache = statcache.StatCache(blocker / "cache" / "data-stat.db", "file:///x")
    rows = StatRows()
    rows.add("/x/a", (1, 1, 1, 1), 0o644, "55" * 32, ((PREFIX + "aa" * 32, 0, 1),))
    cache.save("/x", rows, 10**19)
    assert len(cache.load("/x")) == 0 and not cache.has_rows("/x")
    cache.forget_packs({PREFIX + "aa" * 32})
    cache.close()


def test_each_folder_of_a_put_gets_its_own_snapshot(ds: DataStore, tmp_path: Path) -> None:
    a = write_files(tmp_path / "a", {f"x{i:03}.bin": os.urandom(100) for i in range(70)})
    b = write_files(tmp_path / "b", {f"y{i:03}.bin": os.urandom(100) for i in range(70)})
    lone = write_files(tmp_path / "lone", {"z.bin": b"z"}) / "z.bin"
    age_files(tmp_path)
    ds.create_repo("r")
    both = ds.put("r@master:/both/", [a, b])
    assert both.files_read == 140
    with ds.open_commit("r@master") as writer:
        writer.put_tree(a, "solo")
        writer.put_file("outside.bin", lone)   # read, but under no folder of the put
        writer.finish()
    assert writer.result.files_read == 1 and writer.result.files_unchanged == 70
    snapshot = ds.stat_cache.load(str(a))
    assert sorted(snapshot.locals) == sorted(str(p) for p in a.iterdir())
    assert ds.put("r@master:/again/", [b]).files_read == 0
    assert ds.put("r@master:/again/", [a, b]).files_read == 0


def test_a_read_group_counts_as_waiting_only_when_it_mostly_waited() -> None:
    from flowyard.data.writer import _Group

    group = _Group([f"/f{i}" for i in range(256)], [f"f{i}" for i in range(256)])
    group.wall, group.cpu = 256 * 11e-6, 256 * 10.5e-6      # from the page cache
    assert not group.waited()
    group.wall = 256 * 120e-6                                 # from a disk
    assert group.waited()
    group.wall, group.cpu = 256 * 20e-6, 256 * 5e-6          # slow, but too short to tell
    assert not group.waited()
