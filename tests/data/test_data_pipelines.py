"""Data pipelines: datums from globs and cross/union/join/group, incremental jobs, failures."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from flowyard.data import DataStore
from flowyard.data.content import FileEntry
from flowyard.data.datums import Datum, datums, glob_regex
from flowyard.data.pipelines import DataPipelines
from flowyard.errors import Conflict, InvalidInput, NotFound, ResourceInvalid
from flowyard.resources.data_pipeline import DataPipeline, Input

TRANSFORMS = Path(__file__).parent / "transforms" / "upper.py"


def entries(*paths: str) -> dict[str, FileEntry]:
    return {p: FileEntry(p, 1, 0o644, "blake3:" + f"{i:064x}", ()) for i, p in enumerate(paths)}


def names(ds_: list[Datum]) -> list[list[str]]:
    return [[f"{f.input}:{f.entry.path}" for f in d.files] for d in ds_]


FILES = entries("a/1.csv", "a/2.csv", "b/3.csv", "top.txt")


@pytest.mark.parametrize(
    ("glob", "expected"),
    [
        ("/", [["r:a/1.csv", "r:a/2.csv", "r:b/3.csv", "r:top.txt"]]),
        ("/*", [["r:a/1.csv", "r:a/2.csv"], ["r:b/3.csv"], ["r:top.txt"]]),
        ("/*/*", [["r:a/1.csv"], ["r:a/2.csv"], ["r:b/3.csv"]]),
        ("/**", [["r:a/1.csv"], ["r:a/2.csv"], ["r:b/3.csv"], ["r:top.txt"]]),
        ("/a/*.csv", [["r:a/1.csv"], ["r:a/2.csv"]]),
        ("/nothing/*", []),
    ],
)
def test_globs(glob: str, expected: list[list[str]]) -> None:
    node = Input.model_validate({"pfs": {"repo": "r", "glob": glob}})
    assert names(datums(node, {"r": FILES})) == expected


def test_a_folder_datum_takes_its_files_only() -> None:
    """'a-b' sorts between 'a' and 'a/x': neither '/**' nor '/*' mixes them up."""
    files = entries("a/x", "a-b", "a/y/z", "ab")
    node = Input.model_validate({"pfs": {"repo": "r", "glob": "/**"}})
    assert names(datums(node, {"r": files})) == [["r:a-b"], ["r:a/x"], ["r:a/y/z"], ["r:ab"]]
    node = Input.model_validate({"pfs": {"repo": "r", "glob": "/*"}})
    assert names(datums(node, {"r": files})) == [["r:a/x", "r:a/y/z"], ["r:a-b"], ["r:ab"]]


def test_datums_of_many_files_are_found_in_linear_time() -> None:
    """15,000 files, a datum each, come in well under the limit (a quadratic search for the
    deepest matches took about a minute); 24,000 with '-' siblings of the folders keep
    '/**' to files only (the shortcut once taken past 20,000 matches kept the folders)."""
    many = entries(*(f"d{i % 30}/f{i:05d}" for i in range(15_000)))
    node = Input.model_validate({"pfs": {"repo": "r", "glob": "/*/*"}})
    started = time.perf_counter()
    assert len(datums(node, {"r": many})) == 15_000
    assert time.perf_counter() - started < 10
    more = entries(*(f"d{i % 30}/f{i:05d}" for i in range(24_000)),
                   *(f"d{k}-b" for k in range(30)))
    node = Input.model_validate({"pfs": {"repo": "r", "glob": "/**"}})
    assert [len(d.files) for d in datums(node, {"r": more})] == [1] * 24_030


def test_cross_union_join_group() -> None:
    left = entries("1.img", "2.img", "3.img")
    right = entries("1.lbl", "2.lbl", "9.lbl")
    files = {"img": left, "lbl": right}
    cross = Input.model_validate({"cross": [
        {"pfs": {"repo": "img", "glob": "/*"}}, {"pfs": {"repo": "lbl", "glob": "/"}}]})
    assert len(datums(cross, files)) == 3
    assert all(len(d.files) == 4 for d in datums(cross, files))
    union = Input.model_validate({"union": [
        {"pfs": {"repo": "img", "glob": "/*"}}, {"pfs": {"repo": "lbl", "glob": "/*"}}]})
    assert len(datums(union, files)) == 6
    join = Input.model_validate({"join": [
        {"pfs": {"repo": "img", "glob": "/(*).img", "joinOn": "$1"}},
        {"pfs": {"repo": "lbl", "glob": "/(*).lbl", "joinOn": "$1"}}]})
    assert names(datums(join, files)) == [["img:1.img", "lbl:1.lbl"], ["img:2.img", "lbl:2.lbl"]]
    group = Input.model_validate({"group": [
        {"pfs": {"repo": "img", "glob": "/(*).img", "groupBy": "$1"}},
        {"pfs": {"repo": "lbl", "glob": "/(*).lbl", "groupBy": "$1"}}]})
    assert [d.key for d in datums(group, files)] == ["1", "2", "3", "9"]
    bad = Input.model_validate({"join": [{"pfs": {"repo": "img", "glob": "/*"}}]})
    with pytest.raises(InvalidInput, match="every input of a join needs joinOn"):
        datums(bad, files)
    with pytest.raises(InvalidInput, match="glob 'x' must start with '/'"):
        glob_regex("x")


def spec(transform: str, glob: str = "/*", **extra: object) -> dict[str, object]:
    return {"input": {"pfs": {"repo": "raw", "glob": glob}},
            "transform": {"python": f"{TRANSFORMS}:{transform}"}, **extra}


@pytest.fixture
def pipes(ds: DataStore) -> DataPipelines:
    ds.create_repo("raw")
    with ds.open_commit("raw@master") as c:
        for name in ("a", "b", "c"):
            c.put_bytes(f"{name}.txt", f"file {name}".encode())
    return DataPipelines(ds)


def test_incremental_jobs_reuse_unchanged_datums(pipes: DataPipelines, ds: DataStore) -> None:
    pipes.create(DataPipeline.build("shout", spec("upper", parallelism=2)))
    first = pipes.run("shout")
    assert first.state == "Succeeded", first.error
    assert first.stats == {"datums": 3, "processed": 3, "skipped": 0, "failed": 0}
    assert ds.read_bytes("shout@master:/b.txt") == b"FILE B"
    out = ds.inspect("shout@master")
    assert out.origin == "data-pipeline" and out.provenance == [ds.resolve("raw@master").id]
    assert pipes.run("shout").id == first.id  # nothing new: no new job

    ds.put_bytes("raw@master:/b.txt", b"new b")
    with ds.open_commit("raw@master") as c:
        c.delete("c.txt")
    second = pipes.run("shout")
    assert second.stats == {"datums": 2, "processed": 1, "skipped": 1, "failed": 0}
    assert [e.path for e in ds.ls("shout@master")] == ["/a.txt", "/b.txt"]
    assert ds.read_bytes("shout@master:/b.txt") == b"NEW B"
    chain = {c.repo for c in ds.subvenance("raw@master~2")}
    assert chain == {"shout"}

    third = pipes.run("shout", reprocess=True)
    assert third.stats["processed"] == 2 and third.stats["skipped"] == 0
    assert [j.id for j in pipes.jobs("shout")] == [third.id, second.id, first.id]

    # Same inputs, another glob: new datums run, none is wrongly taken as done.
    pipes.create(DataPipeline.build("shout", spec("upper", glob="/")), update=True)
    fourth = pipes.run("shout")
    assert fourth.id != third.id and fourth.stats == {
        "datums": 1, "processed": 1, "skipped": 0, "failed": 0}
    assert ds.read_bytes("shout@master:/a.txt") == b"FILE A"


def test_a_failing_datum_is_retried_then_fails_the_job(pipes: DataPipelines, ds: DataStore) -> None:
    pipes.create(DataPipeline.build("picky", spec("fails_on_bad", datumTries=2)))
    ok = pipes.run("picky")
    assert ok.state == "Succeeded"
    before = ds.resolve("picky@master").id
    ds.put_bytes("raw@master:/b.txt", b"this is bad")
    job = pipes.run("picky")
    assert job.state == "Failed"
    assert job.stats["failed"] == 1 and job.stats["skipped"] == 2
    assert job.failures[0]["attempts"] == 2
    assert "raw:/b.txt" in (job.error or "")
    assert "cannot process b.txt: it is bad" in (job.error or "")
    assert ds.resolve("picky@master").id == before  # the output branch did not move


def test_a_hanging_datum_times_out(pipes: DataPipelines, ds: DataStore) -> None:
    pipes.create(DataPipeline.build("slow", spec("hangs", glob="/", datumTries=1,
                                                 datumTimeout=0.5)))
    job = pipes.run("slow")
    assert job.state == "Failed"
    assert "timed out after 0.5s" in (job.error or "")


def test_a_glob_that_matches_nothing_gives_an_empty_commit_and_a_warning(
    pipes: DataPipelines, ds: DataStore
) -> None:
    pipes.create(DataPipeline.build("none", spec("upper", glob="/nothing/*")))
    job = pipes.run("none")
    assert job.state == "Succeeded"
    assert any("matched nothing" in w for w in job.warnings)
    assert ds.inspect("none@master").files == 0


def test_bad_pipelines_are_refused(pipes: DataPipelines, ds: DataStore) -> None:
    pipes.create(DataPipeline.build("one", spec("upper")))
    with pytest.raises(Conflict, match="repo 'one' is the output of DataPipeline/one"):
        ds.put_bytes("one@master:/x", b"by hand")
    back = {"input": {"pfs": {"repo": "one", "glob": "/*"}},
            "transform": {"cmd": ["true"]}, "outputRepo": "raw"}
    with pytest.raises(InvalidInput, match="output repo 'raw' flows back into its input 'one'"):
        pipes.create(DataPipeline.build("back", back))
    ds.create_repo("mid")
    steal = {"input": {"pfs": {"repo": "raw"}}, "transform": {"cmd": ["true"]},
             "outputRepo": "mid"}
    with pytest.raises(Conflict, match="output repo 'mid' already exists"):
        pipes.create(DataPipeline.build("steal", steal))
    two = {"input": {"pfs": {"repo": "one"}}, "transform": {"cmd": ["true"]},
           "outputRepo": "two"}
    pipes.create(DataPipeline.build("two", two))
    cyc = {"input": {"pfs": {"repo": "two"}}, "transform": {"cmd": ["true"]}}
    cyc_spec = DataPipeline.build("one", {**spec("upper"), "input": {"cross": [
        {"pfs": {"repo": "raw", "glob": "/*"}}, {"pfs": {"repo": "two"}}]}})
    with pytest.raises(InvalidInput, match="would make a provenance cycle"):
        pipes.create(cyc_spec, update=True)
    with pytest.raises(NotFound, match="input repo 'rwa' not found"):
        pipes.create(DataPipeline.build("x", {**cyc, "input": {"pfs": {"repo": "rwa"}}}))
    with pytest.raises(ResourceInvalid, match="exactly one of python or cmd"):
        pipes.create({"kind": "DataPipeline", "metadata": {"name": "y"},
                      "spec": {"input": {"pfs": {"repo": "raw"}}, "transform": {}}})
    with pytest.raises(NotFound, match="data pipeline 'onee' not found"):
        pipes.run("onee")


def test_join_pipeline_with_a_command(ds: DataStore) -> None:
    ds.create_repo("img")
    ds.create_repo("lbl")
    with ds.open_commit("img@master") as c:
        for k in ("1", "2"):
            c.put_bytes(f"{k}.img", b"i")
    with ds.open_commit("lbl@master") as c:
        for k in ("1", "2", "3"):
            c.put_bytes(f"{k}.lbl", b"l")
    pipes = DataPipelines(ds)
    pipes.create(DataPipeline.build("pairs", {
        "input": {"join": [{"pfs": {"repo": "img", "glob": "/(*).img", "joinOn": "$1"}},
                           {"pfs": {"repo": "lbl", "glob": "/(*).lbl", "joinOn": "$1"}}]},
        "transform": {"cmd": ["sh", "-c",
                              'cd "$FLOWYARD_INPUT" && printf "%s %s" "$(ls img)" "$(ls lbl)" '
                              '> "$FLOWYARD_OUTPUT/$(ls img).pair"']},
    }))
    job = pipes.run("pairs")
    assert job.state == "Succeeded", job.error
    assert [e.path for e in ds.ls("pairs@master")] == ["/1.img.pair", "/2.img.pair"]
    assert ds.read_bytes("pairs@master:/1.img.pair") == b"1.img 1.lbl"
    assert sorted(ds.inspect("pairs@master").provenance) == sorted(
        [ds.resolve("img@master").id, ds.resolve("lbl@master").id])


def test_an_incremental_job_commits_only_its_change(pipes: DataPipelines, ds: DataStore) -> None:
    """The output branch is still at the last job's commit: the next job's commit is a delta
    on it (the reused datums' files are not written again), and reads as the whole output."""
    with ds.open_commit("raw@master") as c:
        for i in range(40):
            c.put_bytes(f"n{i:02d}.txt", f"file {i}".encode())
    pipes.create(DataPipeline.build("shout", spec("upper", parallelism=2)))
    first = pipes.run("shout")
    assert first.state == "Succeeded", first.error
    ds.put_bytes("raw@master:/n07.txt", b"seven")
    with ds.open_commit("raw@master") as c:
        c.delete("n08.txt")
    second = pipes.run("shout")
    assert second.stats == {"datums": 42, "processed": 1, "skipped": 41, "failed": 0}
    tree = ds._tree(ds.resolve("shout@master"))
    assert tree.base == ds._tree(ds.resolve(f"shout@{first.output_commit}")).digest
    assert tree.deleted == ("n08.txt",) and tree.files == 42
    got = {e.path: ds.read_bytes(f"shout@master:{e.path}") for e in ds.ls("shout@master")}
    want = {f"/n{i:02d}.txt": f"FILE {i}".encode() for i in range(40) if i != 8}
    want |= {"/n07.txt": b"SEVEN", "/a.txt": b"FILE A", "/b.txt": b"FILE B", "/c.txt": b"FILE C"}
    assert got == want
