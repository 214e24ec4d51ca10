"""Repos, branches, put/get/ls/log/diff, refs and ancestry, provenance, and bad input."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from flowyard.data import DataStore, parse_target
from flowyard.data.refs import split_ref
from flowyard.errors import Conflict, InvalidInput, NotFound


@pytest.fixture
def images(ds: DataStore) -> DataStore:
    ds.create_repo("images", description="training images")
    for i in range(4):
        ds.put_bytes(f"images@master:/v{i}.txt", f"version {i}".encode(), message=f"c{i}")
    return ds


def test_repo_create_list_delete(ds: DataStore) -> None:
    ds.create_repo("a")
    ds.create_repo("b", description="second")
    assert [(r.name, r.branches) for r in ds.list_repos()] == [("a", ["master"]), ("b", ["master"])]
    ds.delete_repo("a")
    assert [r.name for r in ds.list_repos()] == ["b"]
    with pytest.raises(Conflict, match="repo 'b' already exists"):
        ds.create_repo("b")


def test_put_folder_file_and_stdin_then_get(
    ds: DataStore, make_files: Callable[..., Path], tmp_path: Path
) -> None:
    src = make_files("src", {"x/1.txt": b"one", "x/2.txt": b"two", "top.txt": b"top"})
    os.chmod(src / "top.txt", 0o755)
    ds.create_repo("r")
    ds.put("r@master:/data", [src])
    ds.put("r@master:/single.txt", [src / "top.txt"])
    ds.put("r@master:/dir/", [src / "top.txt"])
    ds.put("r@master:/in.bin", ["-"], stdin=io.BytesIO(b"from stdin"))
    names = [e.path for e in ds.ls("r@master", recursive=True)]
    assert names == [
        "/data/top.txt", "/data/x/1.txt", "/data/x/2.txt", "/dir/top.txt", "/in.bin",
        "/single.txt",
    ]
    top = ds.ls("r@master")
    assert [(e.path, e.type, e.files) for e in top] == [
        ("/data", "dir", 3), ("/dir", "dir", 1), ("/in.bin", "file", 1), ("/single.txt", "file", 1)
    ]
    assert ds.read_bytes("r@master:/in.bin") == b"from stdin"
    out = tmp_path / "out"
    result = ds.get("r@master:/data", out)
    assert result.files == 3
    assert (out / "x" / "2.txt").read_bytes() == b"two"
    assert os.stat(out / "top.txt").st_mode & 0o777 == 0o755
    ds.get("r@master:/single.txt", tmp_path / "one.txt")
    assert (tmp_path / "one.txt").read_bytes() == b"top"
    with pytest.raises(Conflict, match="already exists"):
        ds.get("r@master:/single.txt", tmp_path / "one.txt")
    ds.get("r@master:/single.txt", tmp_path / "one.txt", overwrite=True)


def test_sync_put_removes_files_the_source_no_longer_has(
    ds: DataStore, make_files: Callable[..., Path]
) -> None:
    src = make_files("src", {"a": b"a", "b": b"b"})
    ds.create_repo("r")
    ds.put("r@master", [src])
    (src / "b").unlink()
    plain = ds.put("r@master", [src])
    assert not plain.changed
    synced = ds.put("r@master", [src], sync=True)
    assert synced.changed
    assert [e.path for e in ds.ls("r@master")] == ["/a"]
    assert ds.diff("r@master^", "r@master")[0].to_dict() == {
        "path": "/b", "change": "removed", "old_size": 1, "new_size": None
    }


def test_refs_and_ancestry(images: DataStore) -> None:
    log = images.log("images@master")
    assert [c.message for c in log] == ["c3", "c2", "c1", "c0"]
    head = log[0]
    assert images.resolve("images@master").id == head.id
    assert images.resolve("images@master^").id == log[1].id
    assert images.resolve("images@master~1").id == log[1].id
    assert images.resolve("images@master^2").id == log[2].id
    assert images.resolve("images@master^^").id == log[2].id
    assert images.resolve("images@master~3").id == log[3].id
    assert images.resolve("images@master^~2").id == log[3].id
    assert images.resolve(f"images@{head.id}").id == head.id
    assert images.resolve(f"images@{log[1].id[:8]}^").id == log[2].id
    assert images.resolve("images").id == head.id
    assert images.log("images@master", limit=2)[1].id == log[1].id
    assert split_ref("dev~0") == ("dev", 0)
    with pytest.raises(NotFound) as info:
        images.resolve("images@master~4")
    assert "'images@master~4' goes back 4 generation(s)" in str(info.value)
    assert "has no parent" in str(info.value)


def test_branches(images: DataStore) -> None:
    images.create_branch("images@dev", start="master^")
    assert [b.name for b in images.list_branches("images")] == ["dev", "master"]
    images.put_bytes("images@dev:/dev.txt", b"dev")
    assert images.resolve("images@dev^").id == images.resolve("images@master^").id
    assert [e.path for e in images.ls("images@dev")][-1] == "/v2.txt"
    images.delete_branch("images@dev")
    with pytest.raises(NotFound, match="branch 'dev' not found in repo 'images'"):
        images.resolve("images@dev")
    images.create_branch("images@empty")
    with pytest.raises(NotFound, match="branch 'empty' of repo 'images' has no commits yet"):
        images.ls("images@empty")


def test_diff_reports_added_removed_modified_with_sizes(
    ds: DataStore, make_files: Callable[..., Path]
) -> None:
    src = make_files("src", {"keep": b"k", "change": b"12", "drop": b"x"})
    ds.create_repo("r")
    ds.put("r@master", [src])
    (src / "change").write_bytes(b"12345")
    (src / "new").write_bytes(b"nnn")
    (src / "drop").unlink()
    ds.put("r@master", [src], sync=True)
    diff = [d.to_dict() for d in ds.diff("r@master^", "r@master")]
    assert diff == [
        {"path": "/change", "change": "modified", "old_size": 2, "new_size": 5},
        {"path": "/drop", "change": "removed", "old_size": 1, "new_size": None},
        {"path": "/new", "change": "added", "old_size": None, "new_size": 3},
    ]
    assert ds.diff("r@master", "r@master") == []


def test_provenance_walks_both_ways(ds: DataStore) -> None:
    for name in ("raw", "clean", "features", "model"):
        ds.create_repo(name)
    raw = ds.put_bytes("raw@master:/d.csv", b"1,2").commit
    clean = ds.put_bytes("clean@master:/d.csv", b"1", origin="data-pipeline",
                         provenance=["raw@master"]).commit
    feats = ds.put_bytes("features@master:/f", b"f", origin="data-pipeline",
                         provenance=["clean@master"]).commit
    model = ds.put_bytes("model@master:/m", b"m", origin="pipeline",
                         provenance=["features@master", "raw@master"],
                         info={"run": "run-1"}).commit
    assert raw and clean and feats and model
    assert ds.inspect("model@master").provenance == sorted([feats.id, raw.id])
    assert ds.inspect("model@master").info == {"run": "run-1"}
    up = {c.id for c in ds.provenance("model@master")}
    assert up == {feats.id, clean.id, raw.id}
    assert {c.id for c in ds.provenance("model@master", transitive=False)} == {feats.id, raw.id}
    down = {c.id for c in ds.subvenance("raw@master")}
    assert down == {clean.id, feats.id, model.id}
    assert {c.repo for c in ds.subvenance("clean@master")} == {"features", "model"}
    with pytest.raises(Conflict, match="repo 'raw' has commits that commits of"):
        ds.delete_repo("raw")
    # The same data from the same inputs is no news; from a new input commit it is.
    same = ds.put_bytes("clean@master:/d.csv", b"1", origin="data-pipeline",
                        provenance=["raw@master"])
    assert not same.changed and same.commit is not None and same.commit.id == clean.id
    ds.put_bytes("raw@master:/d.csv", b"1,2,3")
    again = ds.put_bytes("clean@master:/d.csv", b"1", origin="data-pipeline",
                         provenance=["raw@master"])
    assert again.changed


# -- bad input -----------------------------------------------------------------------------


def test_unknown_repo_suggests_close_names(images: DataStore) -> None:
    with pytest.raises(NotFound) as info:
        images.ls("imags@master")
    text = str(info.value)
    assert "repo 'imags' not found" in text and "did you mean 'images'?" in text


def test_unknown_branch_and_commit_list_the_options(images: DataStore) -> None:
    with pytest.raises(NotFound) as info:
        images.ls("images@mastr")
    assert "branch 'mastr' not found in repo 'images'" in str(info.value)
    assert "did you mean 'master'?" in str(info.value)
    with pytest.raises(NotFound) as info:
        images.ls("images@abcdef12")
    assert "no branch or commit 'abcdef12' in repo 'images'" in str(info.value)
    assert "known: master" in str(info.value)
    with pytest.raises(NotFound) as info:
        images.ls("images@c72")
    assert "a commit prefix needs at least 4 hex digits" in str(info.value)


def test_an_empty_pipeline_output_points_at_its_jobs(ds: DataStore) -> None:
    from flowyard.data.pipelines import DataPipelines
    from flowyard.resources.data_pipeline import DataPipeline

    ds.create_repo("raw")
    DataPipelines(ds).create(DataPipeline.build("out", {
        "input": {"pfs": {"repo": "raw", "glob": "/*"}},
        "transform": {"cmd": ["true"]}}))
    with pytest.raises(NotFound) as info:
        ds.ls("out@master")
    assert "has not succeeded yet" in str(info.value)
    assert "flowyard data pipeline jobs out" in str(info.value)
    with pytest.raises(NotFound, match="put data first"):
        ds.ls("raw@master")


def test_unknown_path_lists_siblings(images: DataStore) -> None:
    with pytest.raises(NotFound) as info:
        images.read_bytes("images@master:/v9.txt")
    text = str(info.value)
    assert "path '/v9.txt' not found in images@master" in text
    assert "'/v1.txt'" in text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("images@", "has an empty ref after '@'"),
        ("@master", "names no repo"),
        ("ima ges@master", "repo name 'ima ges' is not valid"),
        ("images@mas:ter:/x", "escapes"),
        ("images@master:/../etc/passwd", "escapes the repo"),
        ("images@master:/a/../../b", "escapes the repo"),
        ("images@^", "is not valid"),
        ("images@ma$ter", "'ma$ter' is neither a branch name nor a commit id"),
    ],
)
def test_bad_ref_syntax_names_the_value(text: str, message: str) -> None:
    if "escapes" in message and text.count(":") > 1:
        # 'mas' then the path 'ter:/x' is a fine path; make sure it parses, not escapes.
        assert parse_target(text).path == "ter:/x"
        return
    with pytest.raises(InvalidInput) as info:
        parse_target(text)
    assert message in str(info.value)


def test_put_to_a_commit_or_ancestry_is_refused(images: DataStore, tmp_path: Path) -> None:
    head = images.resolve("images@master").id
    f = tmp_path / "f.txt"
    f.write_bytes(b"x")
    for ref in (head, head[:8], "master^"):
        with pytest.raises(InvalidInput) as info:
            images.put(f"images@{ref}:/f.txt", [f])
        assert f"cannot write to 'images@{ref}:/f.txt'" in str(info.value)
        assert "commits are immutable" in str(info.value)
        assert "write to a branch" in str(info.value)


def test_put_of_a_missing_local_path_names_it(images: DataStore, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"local path '.*nope' does not exist"):
        images.put("images@master", [tmp_path / "nope"])


def test_put_to_unknown_branch_lists_branches(images: DataStore, tmp_path: Path) -> None:
    f = tmp_path / "f.txt"
    f.write_bytes(b"x")
    with pytest.raises(NotFound) as info:
        images.put("images@mater:/f.txt", [f])
    assert "branch 'mater' not found in repo 'images'" in str(info.value)
    assert "'master'" in str(info.value)


def test_file_folder_clash_is_a_conflict(images: DataStore) -> None:
    with pytest.raises(Conflict, match=r"'/v1\.txt' is a file there"):
        images.put_bytes("images@master:/v1.txt/inner", b"x")
    images.put_bytes("images@master:/dir/a", b"x")
    with pytest.raises(Conflict, match=r"file '/dir' .* it is a folder there"):
        images.put_bytes("images@master:/dir", b"x")


def test_pipeline_output_repos_refuse_user_writes(ds: DataStore) -> None:
    ds.create_repo("out", owner="DataPipeline/edges")
    with pytest.raises(Conflict, match="repo 'out' is the output of DataPipeline/edges") as info:
        ds.put_bytes("out@master:/x", b"x")
    assert "flowyard data pipeline delete edges" in str(info.value.hint)
    assert ds.put_bytes("out@master:/x", b"x", origin="data-pipeline",
                        info={"pipeline": "edges", "job": "j1"}).changed


@pytest.mark.parametrize(("origin", "info"), [
    ("pipeline", {"run": "r1", "step": "train", "artifact": "model"}),  # a Pipeline's outputsTo
    ("data-pipeline", {"pipeline": "other", "job": "j1"}),               # another data pipeline
    ("data-pipeline", {}),                                               # one that names none
])
def test_only_the_owning_data_pipeline_writes_its_output_repo(
        ds: DataStore, origin: str, info: dict[str, str]) -> None:
    ds.create_repo("out", owner="DataPipeline/edges")
    with pytest.raises(Conflict, match="repo 'out' is the output of DataPipeline/edges; only "
                       "it writes there") as caught:
        ds.put_bytes("out@master:/m", b"model", origin=origin, info=info)
    assert "flowyard data pipeline delete edges" in str(caught.value.hint)
    assert ds.list_branches("out")[0].head is None


def test_an_owned_repo_and_its_branches_are_not_changed_by_hand(ds: DataStore) -> None:
    ds.create_repo("out", owner="DataPipeline/edges")
    job = ds.put_bytes("out@master:/x", b"x", origin="data-pipeline",
                       info={"pipeline": "edges"}).commit
    assert job is not None
    for force in (False, True):
        with pytest.raises(Conflict, match="repo 'out' is the output of DataPipeline/edges; it "
                           "is not deleted while the pipeline exists") as info:
            ds.delete_repo("out", force=force)
        assert info.value.hint == "delete the pipeline first: flowyard data pipeline delete edges"
    with pytest.raises(Conflict, match="branch 'master' is not deleted by hand"):
        ds.delete_branch("out@master")
    with pytest.raises(Conflict, match="branch 'dev' is not created by hand"):
        ds.create_branch("out@dev", start="master")
    with pytest.raises(Conflict, match="branch 'master' is not moved by hand"):
        ds.catalog.move_branch("out", "master", None)
    assert [(b.name, b.head) for b in ds.list_branches("out")] == [("master", job.id)]
    # Deleting the pipeline releases the repo (DataPipelines.delete does this).
    ds.catalog.set_owner("out", None, only_if="DataPipeline/edges")
    ds.create_branch("out@dev", start="master")
    ds.delete_branch("out@dev")
    ds.delete_repo("out")
    assert ds.list_repos() == []


@pytest.mark.parametrize(("text", "message"), [
    ("images@a:b", r"'images@a:b' is not a branch: ':b' names a path"),
    ("images@dev:/x", r"'images@dev:/x' is not a branch: ':/x' names a path"),
    ("images@dev:", r"'images@dev:' is not a branch: ':' names a path"),
    ("images", r"'images' names no branch"),
    ("images@dev^", r"branch name 'dev\^' is not valid"),
])
def test_branch_create_and_delete_take_repo_at_branch_only(
        images: DataStore, text: str, message: str) -> None:
    for call in (images.create_branch, images.delete_branch):
        with pytest.raises(InvalidInput, match=message) as info:
            call(text)
        if "^" not in text:
            assert "REPO@BRANCH" in f"{info.value.message} {info.value.hint}"
    assert images.get_repo("images").branches == ["master"]


def test_a_commit_id_without_a_repo_says_which_repo_has_it(images: DataStore) -> None:
    head = images.resolve("images@master").id
    for given in (head, head[:8], f"{head}:/v1.txt"):
        with pytest.raises(NotFound, match=f"repo '{given.split(':')[0]}' not found") as info:
            images.inspect(given)
        assert info.value.hint == (
            f"a commit is named REPO@COMMIT; commit {head} is in repo 'images': write "
            f"images@{given}")
    with pytest.raises(NotFound) as info:
        images.inspect("0" * 32)
    assert info.value.hint == ("a commit is named REPO@COMMIT; no repo has a commit "
                               f"'{'0' * 32}' either (known: images)")


def test_ambiguous_prefix_and_bad_origin(images: DataStore) -> None:
    with pytest.raises(InvalidInput, match="origin 'robot' is not one of user"):
        images.put_bytes("images@master:/x", b"x", origin="robot")
    with pytest.raises(InvalidInput, match=r"branch name 'dev~1' is not valid"):
        images.create_branch("images@dev~1")
    with pytest.raises(InvalidInput, match=r"ref 'a\^\^b' in 'images@a\^\^b' is not valid"):
        images.create_branch("images@a^^b")
