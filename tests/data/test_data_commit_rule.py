"""When a put publishes a commit: new files, or new lineage; never a repeat of the head.

An unchanged tree whose provenance the head already records (the same commits, or some of
them) makes no commit and hands back the head; an unchanged tree computed from a commit the
head does not name is a new lineage fact and is published, so provenance and subvenance
walks stay true.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from data_helpers import age_files

from flowyard.data import DataStore
from flowyard.data.pipelines import DataPipelines
from flowyard.resources.data_pipeline import DataPipeline

TRANSFORMS = Path(__file__).parent / "transforms" / "upper.py"


@pytest.fixture
def lineage(ds: DataStore) -> DataStore:
    for name in ("raw", "labels", "models"):
        ds.create_repo(name)
    ds.put_bytes("raw@master:/iris.csv", b"1,2\n")
    ds.put_bytes("labels@master:/l.txt", b"setosa\n")
    return ds


def _model(ds: DataStore, data: bytes, *provenance: str) -> tuple[bool, str]:
    got = ds.put_bytes("models@master:/m.bin", data, origin="pipeline",
                       provenance=list(provenance), info={"run": "r"})
    assert got.commit is not None
    return got.changed, got.commit.id


def test_unchanged_files_and_known_provenance_make_no_commit(lineage: DataStore) -> None:
    ds = lineage
    changed, first = _model(ds, b"weights", "raw@master", "labels@master")
    assert changed
    # The same inputs again (a retried step, a cached run): nothing new to record.
    changed, again = _model(ds, b"weights", "raw@master", "labels@master")
    assert not changed and again == first
    # A subset of what the head records adds nothing either.
    changed, subset = _model(ds, b"weights", "raw@master")
    assert not changed and subset == first
    assert [c.id for c in ds.log("models@master")] == [first]
    assert ds.inspect("models@master").provenance == sorted(
        [ds.resolve("raw@master").id, ds.resolve("labels@master").id])


def test_unchanged_files_from_a_new_input_commit_are_a_commit(lineage: DataStore) -> None:
    ds = lineage
    _, first = _model(ds, b"weights", "raw@master")
    old_raw = ds.resolve("raw@master").id
    ds.put_bytes("raw@master:/notes.txt", b"unrelated")      # new raw commit, same model
    new_raw = ds.resolve("raw@master").id
    changed, second = _model(ds, b"weights", "raw@master")
    assert changed and second != first
    head = ds.inspect("models@master")
    assert head.parent == first and head.provenance == [new_raw]
    assert ds.diff(f"models@{first}", f"models@{second}") == []   # the same files
    assert [c.id for c in ds.subvenance(f"raw@{new_raw}")] == [second]
    assert [c.id for c in ds.subvenance(f"raw@{old_raw}")] == [first]
    # Old and new inputs together: the new one is news, so a commit again.
    changed, third = _model(ds, b"weights", f"raw@{old_raw}", "labels@master")
    assert changed and ds.inspect(f"models@{third}").provenance == sorted(
        [old_raw, ds.resolve("labels@master").id])


def test_changed_files_are_a_commit_whatever_the_provenance(lineage: DataStore) -> None:
    ds = lineage
    _, first = _model(ds, b"weights", "raw@master")
    changed, second = _model(ds, b"better weights", "raw@master")
    assert changed and second != first
    assert ds.read_bytes("models@master:/m.bin") == b"better weights"
    assert ds.inspect("models@master").provenance == [ds.resolve("raw@master").id]
    edited = ds.put_bytes("models@master:/m.bin", b"edited", origin="pipeline")
    assert edited.changed and edited.commit is not None and edited.commit.id != second


def test_an_unchanged_folder_uses_the_memo_unless_its_lineage_is_new(
        lineage: DataStore, tmp_path: Path) -> None:
    ds = lineage
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "w.bin").write_bytes(b"w" * 5000)
    (folder / "cfg.json").write_bytes(b"{}")
    age_files(folder)   # else the stat cache distrusts them (racily clean) and no memo helps

    def put() -> tuple[bool, str, int]:
        got = ds.put("models@master:/m", [folder], origin="pipeline", sync=True,
                     provenance=["raw@master"])
        assert got.commit is not None
        return got.changed, got.commit.id, got.files_unchanged

    changed, first, _ = put()
    assert changed
    changed, again, unchanged = put()   # the stat cache and the folder memo know every file
    assert not changed and again == first and unchanged == 2
    memo = ds.stat_cache.memo(str(folder.absolute()), "models@master:/m")
    assert memo is not None and memo[0] == first   # so the next put consults the memo
    ds.put_bytes("raw@master:/iris.csv", b"1,2\n3,4\n")
    changed, second, _ = put()
    assert changed and second != first
    assert ds.inspect("models@master").provenance == [ds.resolve("raw@master").id]


def test_a_rewrite_of_the_same_files_is_no_change(lineage: DataStore) -> None:
    """Delete everything and put it back unchanged (a sync put the folder memo cannot vouch
    for, a data-pipeline job): the tree is the head's, so no commit."""
    ds = lineage
    head = ds.resolve("raw@master").id
    for provenance in ([], [f"labels@{ds.resolve('labels@master').id}"]):
        with ds.open_commit("raw@master", provenance=provenance) as writer:
            writer.delete("")
            writer.put_bytes("iris.csv", b"1,2\n")
            got = writer.finish()
        if not provenance:
            assert not got.changed and got.commit is not None and got.commit.id == head
        else:   # the same files, computed from labels this time: that is recorded
            assert got.changed and got.commit is not None and got.commit.parent == head
            assert ds.diff(f"raw@{head}", "raw@master") == []
    with ds.open_commit("raw@master") as writer:   # a delete that stays deleted is a change
        writer.delete("")
        writer.put_bytes("other.csv", b"1,2\n")
        assert writer.finish().changed


def test_no_head_yet_an_empty_tree_with_provenance_is_a_commit(lineage: DataStore) -> None:
    ds = lineage
    with ds.open_commit("models@master", origin="pipeline",
                        provenance=["raw@master"]) as writer:
        got = writer.finish()
    assert got.changed and got.commit is not None and got.commit.files == 0
    assert got.commit.provenance == [ds.resolve("raw@master").id]
    with ds.open_commit("models@master") as writer:   # and without provenance: nothing
        writer.delete("")
        assert not writer.finish().changed


def test_data_pipeline_jobs_point_at_the_commit_holding_their_output(ds: DataStore) -> None:
    ds.create_repo("raw")
    ds.put_bytes("raw@master:/a.txt", b"file a")
    pipes = DataPipelines(ds)
    pipes.create(DataPipeline.build("shout", {
        "input": {"pfs": {"repo": "raw", "glob": "/*"}},
        "transform": {"python": f"{TRANSFORMS}:upper"}}))
    first = pipes.run("shout")
    assert first.state == "Succeeded", first.error
    assert first.output_commit == ds.resolve("shout@master").id

    # Reprocessing the same input commit gives the same files: no new output commit, and
    # the job records the one that holds them.
    again = pipes.run("shout", reprocess=True)
    assert again.state == "Succeeded" and again.id != first.id
    assert again.output_commit == first.output_commit
    assert len(ds.log("shout@master")) == 1

    # A new input commit whose output is the same ('File a' upper-cases to 'FILE A'): a
    # new output commit, computed from the new input.
    ds.put_bytes("raw@master:/a.txt", b"File a")
    third = pipes.run("shout")
    assert third.state == "Succeeded", third.error
    head = ds.inspect("shout@master")
    assert third.output_commit == head.id != first.output_commit
    assert head.provenance == [ds.resolve("raw@master").id]
    assert ds.read_bytes("shout@master:/a.txt") == b"FILE A"
    assert [c.id for c in ds.subvenance("raw@master")] == [head.id]
