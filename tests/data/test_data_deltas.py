"""Commits written as deltas on their base tree (tree.py), and re-puts that take the stat
cache's hits as the head's entries when the memo proves them (writer.py's _vouch)."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest
from data_helpers import age_files, make_store, write_files

from flowyard.data import DataStore
from flowyard.data.content import FileEntry
from flowyard.data.tree import DELTA_SHARE, MAX_DEPTH, Tree
from flowyard.errors import Conflict, NotFound
from flowyard.settings import Settings


def tree_of(ds: DataStore, ref: str) -> Tree:
    return ds._tree(ds.resolve(ref))


def entries(ds: DataStore, ref: str, prefix: str = "") -> dict[str, FileEntry]:
    return ds._entries(ds.resolve(ref), prefix)


def seed(ds: DataStore, n: int = 64) -> dict[str, bytes]:
    ds.create_repo("r")
    files = {f"d{i % 4}/f{i:03d}.txt": f"file {i}\n".encode() for i in range(n)}
    with ds.open_commit("r@master") as w:
        for path, data in files.items():
            w.put_bytes(path, data)
    return files


def test_a_small_change_is_a_delta_and_reads_as_the_whole_tree(ds: DataStore) -> None:
    files = seed(ds)
    assert tree_of(ds, "r@master").base is None      # a first commit is a full tree
    first = ds.resolve("r@master")
    with ds.open_commit("r@master") as w:
        w.put_bytes("d0/f000.txt", b"changed\n")      # replaced
        w.put_bytes("new/file.txt", b"new\n")         # added, in a new folder
        w.delete("d1/f001.txt")                       # removed
    tree = tree_of(ds, "r@master")
    assert tree.base == ds._tree(first).digest and tree.depth == 1
    assert tree.deleted == ("d1/f001.txt",)
    assert tree.files == len(files) and tree.changes == 3   # +1 -1
    want = dict(files, **{"d0/f000.txt": b"changed\n", "new/file.txt": b"new\n"})
    del want["d1/f001.txt"]
    got = entries(ds, "r@master")
    assert list(got) == sorted(want)                  # in path order, as a full tree reads
    assert tree.bytes == sum(len(v) for v in want.values())
    assert ds.read_bytes("r@master:/d0/f000.txt") == b"changed\n"
    assert ds.read_bytes("r@master:/d0/f004.txt") == b"file 4\n"   # from the base
    with pytest.raises(NotFound):
        ds.read_bytes("r@master:/d1/f001.txt")
    assert set(entries(ds, "r@master", "d1")) == {p for p in want if p.startswith("d1/")}
    assert [(d.path, d.change) for d in ds.diff(f"r@{first.id}", "r@master")] == [
        ("/d0/f000.txt", "modified"), ("/d1/f001.txt", "removed"), ("/new/file.txt", "added")]
    commit = ds.resolve("r@master")
    assert (commit.files, commit.bytes) == (tree.files, tree.bytes)


def test_a_chain_is_folded_into_a_full_tree(ds: DataStore) -> None:
    seed(ds, 128)
    depths = []
    for i in range(MAX_DEPTH + 2):
        with ds.open_commit("r@master") as w:
            w.put_bytes(f"d0/f{i:03d}.txt", f"v{i}\n".encode())
        depths.append(tree_of(ds, "r@master").depth)
    assert depths == [*range(1, MAX_DEPTH + 1), 0, 1]
    for i in range(MAX_DEPTH + 2):
        assert ds.read_bytes(f"r@master:/d0/f{i:03d}.txt") == f"v{i}\n".encode()


def test_a_big_change_is_a_full_tree(ds: DataStore) -> None:
    files = seed(ds, 64)
    with ds.open_commit("r@master") as w:
        for path in list(files)[: 64 // DELTA_SHARE + 1]:
            w.put_bytes(path, b"x")
    assert tree_of(ds, "r@master").base is None


def test_random_commits_read_back_as_a_model_of_them(ds: DataStore) -> None:
    """Random puts, overwrites, same-content rewrites and deletes of files and folders:
    every commit reads back (entries, bytes, diff) as a plain dict that saw the same ops."""
    rng = random.Random(7)
    model = {k: v for k, v in seed(ds, 96).items()}
    prev = ds.resolve("r@master").id
    deltas = 0
    for step in range(40):
        before = dict(model)
        with ds.open_commit("r@master") as w:
            for _ in range(rng.randint(1, 5)):
                op = rng.random()
                if op < 0.4 or not model:
                    path = f"d{rng.randint(0, 5)}/n{rng.randint(0, 300):03d}.txt"
                    if any(p.startswith(path + "/") for p in model):
                        continue
                    data = f"{step} {rng.random()}\n".encode()
                    w.put_bytes(path, data)
                    model[path] = data
                elif op < 0.6:
                    path = rng.choice(sorted(model))
                    w.put_bytes(path, model[path])          # same content: no change
                elif op < 0.9:
                    path = rng.choice(sorted(model))
                    w.delete(path)
                    del model[path]
                else:
                    folder = f"d{rng.randint(0, 5)}"
                    w.delete(folder)
                    for p in [p for p in model if p.startswith(folder + "/")]:
                        del model[p]
        result = w.result
        head = ds.resolve("r@master")
        assert result.changed == (model != before)
        tree = ds._tree(head)
        deltas += tree.base is not None
        got = entries(ds, "r@master")
        assert list(got) == sorted(model), f"step {step}"
        assert {p: ds.read_bytes(f"r@{head.id}:/{p}") for p in got} == model
        assert (tree.files, tree.bytes) == (len(model), sum(map(len, model.values())))
        diff = {d.path[1:]: d.change for d in ds.diff(f"r@{prev}", f"r@{head.id}")}
        want = {p: "added" for p in model.keys() - before.keys()}
        want |= {p: "removed" for p in before.keys() - model.keys()}
        want |= {p: "modified" for p in model.keys() & before.keys() if model[p] != before[p]}
        assert diff == want, f"step {step}"
        prev = head.id
    assert deltas >= 10   # the walk did exercise deltas


def test_clashes_are_found_against_the_base_of_a_delta(ds: DataStore) -> None:
    seed(ds, 64)
    with pytest.raises(Conflict, match=r"'/d0/f000\.txt' is a file there"), \
            ds.open_commit("r@master") as w:
        w.put_bytes("d0/f000.txt/inner", b"x")
    with pytest.raises(Conflict, match="it is a folder there"), ds.open_commit("r@master") as w:
        w.put_bytes("d1", b"x")
    with ds.open_commit("r@master") as w:   # the file goes in the same commit: no clash
        w.delete("d0/f000.txt")
        w.put_bytes("d0/f000.txt/inner", b"x")
    assert tree_of(ds, "r@master").base is not None
    assert ds.read_bytes("r@master:/d0/f000.txt/inner") == b"x"


def test_fsck_follows_a_delta_to_its_base(ds: DataStore) -> None:
    seed(ds, 64)
    with ds.open_commit("r@master") as w:
        w.put_bytes("d0/f000.txt", b"changed\n")
    assert tree_of(ds, "r@master").base is not None
    report = ds.fsck(collect=True, grace=0, verify=True)
    assert report.problems == []
    assert report.trees == 2   # the delta and the full tree it is laid over
    assert entries(ds, "r@master")["d2/f002.txt"].size == len(b"file 2\n")


# -- re-puts of a folder ----------------------------------------------------------------------


def folder(tmp_path: Path, n: int = 200) -> Path:
    root = write_files(tmp_path / "src", {f"s{i % 8}/f{i:04d}.bin": os.urandom(64)
                                          for i in range(n)})
    age_files(root)
    return root


def touch_change(root: Path, rels: list[str]) -> None:
    """New content in these files, dated in the past (out of the stat cache's racy window);
    the others keep their stat fields, ctime included."""
    past = time.time() - 5
    for rel in rels:
        (root / rel).write_bytes(os.urandom(80))
        os.utime(root / rel, (past, past))


def test_a_re_put_after_a_small_change_reads_only_the_change(ds: DataStore,
                                                             tmp_path: Path) -> None:
    root = folder(tmp_path)
    ds.create_repo("r")
    ds.put("r@master", [root])
    changed = ["s0/f0000.bin", "s3/f0003.bin"]
    touch_change(root, changed)
    result = ds.put("r@master", [root])
    assert (result.changed, result.files_read, result.files_unchanged) == (True, 2, 198)
    tree = tree_of(ds, "r@master")
    assert tree.base is not None and tree.changes == 2 and tree.files == 200
    for rel in changed:
        assert ds.read_bytes(f"r@master:/{rel}") == (root / rel).read_bytes()
    again = ds.put("r@master", [root])          # nothing changed since: the memo answers
    assert (again.changed, again.files_read) == (False, 0)
    assert again.commit is not None and again.commit.id == result.commit.id  # type: ignore[union-attr]


def test_a_sync_re_put_removes_what_is_gone_locally(ds: DataStore, tmp_path: Path) -> None:
    root = folder(tmp_path)
    ds.create_repo("r")
    ds.put("r@master:/data", [root], sync=True)
    (root / "s1" / "f0001.bin").unlink()
    touch_change(root, ["s2/f0002.bin"])
    result = ds.put("r@master:/data", [root], sync=True)
    assert (result.files_read, result.files_unchanged) == (1, 198)
    tree = tree_of(ds, "r@master")
    assert tree.base is not None and tree.deleted == ("data/s1/f0001.bin",)
    got = entries(ds, "r@master")
    assert len(got) == 199 and "data/s1/f0001.bin" not in got


def test_hits_are_not_trusted_once_the_head_moved(ds: DataStore, tmp_path: Path) -> None:
    """Another commit changed a file the folder holds, unchanged locally since: the re-put
    puts it back (every put asserts the files it names), as before deltas."""
    root = folder(tmp_path)
    ds.create_repo("r")
    ds.put("r@master", [root])
    with ds.open_commit("r@master") as w:
        w.put_bytes("s5/f0005.bin", b"someone else's")
    touch_change(root, ["s0/f0000.bin"])
    ds.put("r@master", [root])
    assert ds.read_bytes("r@master:/s5/f0005.bin") == (root / "s5/f0005.bin").read_bytes()
    assert ds.read_bytes("r@master:/s0/f0000.bin") == (root / "s0/f0000.bin").read_bytes()


def test_hits_are_not_trusted_when_the_snapshot_is_another_puts(ds: DataStore,
                                                                tmp_path: Path) -> None:
    """The same folder put into another repo in between replaced its stat snapshot: the
    memo of the first repo no longer vouches for it, and the re-put is still right."""
    root = folder(tmp_path)
    ds.create_repo("r")
    ds.create_repo("other")
    ds.put("r@master", [root])
    touch_change(root, ["s0/f0000.bin"])
    ds.put("other@master", [root])
    touch_change(root, ["s1/f0001.bin"])
    result = ds.put("r@master", [root])
    assert result.files_read == 1 and result.changed
    for rel in ("s0/f0000.bin", "s1/f0001.bin"):
        assert ds.read_bytes(f"r@master:/{rel}") == (root / rel).read_bytes()


@pytest.mark.parametrize("files", [0, 64])   # on an empty repo (full tree) and as a delta
def test_a_file_put_then_deleted_in_one_commit_is_gone(ds: DataStore, files: int) -> None:
    if files:
        seed(ds, files)
    else:
        ds.create_repo("r")
    with ds.open_commit("r@master") as w:
        w.put_bytes("a/x.txt", b"x")
        w.put_bytes("b.txt", b"b")
        w.delete("a")
        w.put_bytes("a/y.txt", b"y")
    got = entries(ds, "r@master")
    assert "a/x.txt" not in got and {"a/y.txt", "b.txt"} <= got.keys()
    assert ds.read_bytes("r@master:/a/y.txt") == b"y"


def snapshot_row(ds: DataStore, root: Path) -> tuple[int, bytes | None]:
    db = ds.stat_cache._db
    assert db is not None
    files, patch = db.execute("SELECT files, patch FROM snapshots WHERE root = ?",
                              (str(root),)).fetchone()
    return files, patch


def test_changed_rows_are_saved_as_a_patch_on_the_snapshot(ds: DataStore,
                                                           tmp_path: Path) -> None:
    root = folder(tmp_path, 160)
    ds.create_repo("r")
    ds.put("r@master", [root])
    assert snapshot_row(ds, root) == (160, None)
    rounds = [["s0/f0000.bin"], ["s1/f0001.bin", "s2/f0002.bin"], ["s0/f0000.bin"]]
    for changed in rounds:
        touch_change(root, changed)
        result = ds.put("r@master", [root])
        assert (result.files_read, result.files_unchanged) == (len(changed), 160 - len(changed))
        assert snapshot_row(ds, root)[1] is not None      # patched, not rewritten
        again = ds.put("r@master", [root])                # the patched snapshot is trusted
        assert (again.changed, again.files_read) == (False, 0)
    for rel in ("s0/f0000.bin", "s1/f0001.bin", "s2/f0002.bin"):
        assert ds.read_bytes(f"r@master:/{rel}") == (root / rel).read_bytes()
    # A change to more than 1/8 of the rows folds the patch into a new snapshot.
    many = [f"s{i % 8}/f{i:04d}.bin" for i in range(0, 160, 6)]
    touch_change(root, many)
    assert ds.put("r@master", [root]).files_read == len(many)
    assert snapshot_row(ds, root) == (160, None)
    assert ds.put("r@master", [root]).files_read == 0


def test_a_racy_file_is_not_patched_into_the_snapshot(ds: DataStore, tmp_path: Path) -> None:
    root = folder(tmp_path, 64)
    ds.create_repo("r")
    ds.put("r@master", [root])
    (root / "s0" / "f0000.bin").write_bytes(b"just now")    # mtime: now (racy)
    assert ds.put("r@master", [root]).files_read == 1
    files, patch = snapshot_row(ds, root)
    assert (files, patch) == (63, None)   # saved whole, without the racy file
    assert ds.put("r@master", [root]).files_read == 1        # so it is read again
    assert ds.read_bytes("r@master:/s0/f0000.bin") == b"just now"


def test_vouched_hits_are_put_after_all_when_the_head_moves_mid_put(
        ds: DataStore, tmp_path: Path, settings: Settings) -> None:
    """Another writer commits while a trusted re-put is under way: the put is published on
    top of that commit with every file it names, as any put (the hits are no longer known to
    be the head's)."""
    root = folder(tmp_path)
    ds.create_repo("r")
    ds.put("r@master", [root])
    touch_change(root, ["s0/f0000.bin"])
    other = make_store(tmp_path, settings)
    moved: list[str] = []

    def meanwhile(done: int, total: int) -> None:
        if not moved:
            moved.append(other.put_bytes("r@master:/s5/f0005.bin", b"someone else's")
                         .commit.id)  # type: ignore[union-attr]

    try:
        result = ds.put("r@master", [root], progress=meanwhile)
    finally:
        other.close()
    assert moved and result.commit is not None and result.commit.parents == moved
    assert (result.files_read, result.files) == (1, 200)
    for rel in ("s0/f0000.bin", "s5/f0005.bin"):
        assert ds.read_bytes(f"r@master:/{rel}") == (root / rel).read_bytes()
