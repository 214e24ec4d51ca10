"""Local paths a put reads and a get writes: symlinks (followed, loops refused) and local
files or folders in a get's way (refused before anything is written)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from data_helpers import age_files

from flowyard.data import DataStore
from flowyard.errors import Conflict, InvalidInput, NotFound


def test_put_follows_links_to_files_and_folders(
    ds: DataStore, make_files: Callable[..., Path], tmp_path: Path
) -> None:
    src = make_files("src", {"f.txt": b"plain", "sub/s.txt": b"sub"})
    outside = make_files("outside", {"g.txt": b"outside", "deep/h.txt": b"deep"})
    age_files(src)
    age_files(outside)
    os.symlink("f.txt", src / "flink.txt")              # a link to a file: its content
    os.symlink(outside, src / "olink")                  # a link to a folder elsewhere
    os.symlink("sub", src / "sublink")                  # a link to a folder inside: twice
    os.symlink("nowhere", src / "dangling")             # a dangling link: nothing to put
    ds.create_repo("r")
    first = ds.put("r@master", [src])
    assert first.changed
    assert [e.path for e in ds.ls("r@master", recursive=True)] == [
        "/f.txt", "/flink.txt", "/olink/deep/h.txt", "/olink/g.txt", "/sub/s.txt",
        "/sublink/s.txt",
    ]
    assert ds.read_bytes("r@master:/flink.txt") == b"plain"
    assert ds.read_bytes("r@master:/olink/deep/h.txt") == b"deep"
    # A re-put of the same links changes nothing; a change behind a link is seen.
    assert not ds.put("r@master", [src]).changed
    (outside / "g.txt").write_bytes(b"changed outside")
    past = time.time() - 5  # not racily clean
    os.utime(outside / "g.txt", (past, past))
    again = ds.put("r@master", [src])
    assert again.changed and again.files_read == 1
    assert ds.read_bytes("r@master:/olink/g.txt") == b"changed outside"


@pytest.mark.parametrize(
    ("link", "to", "message"),
    [
        ("self", ".", "local link '{src}/self' leads back to '{src}', a folder it is inside"),
        ("sub/up", "..", "local link '{src}/sub/up' leads back to '{src}', a folder it is "),
        # a link to the parent of the folder put: refused where it first comes back
        ("up", "..", "local link '{src}/up' leads back to '{src}' (through '{src}/up/src')"),
    ],
)
def test_put_refuses_a_link_loop_naming_the_link(
    ds: DataStore, make_files: Callable[..., Path], link: str, to: str, message: str
) -> None:
    src = make_files("src", {"f.txt": b"x", "sub/g.txt": b"y"})
    os.symlink(to, src / link)
    ds.create_repo("loop")
    with pytest.raises(InvalidInput) as err:
        ds.put("loop@master", [src])
    assert message.format(src=src) in err.value.message
    assert "following it would never end" in err.value.message
    assert "remove the link" in (err.value.hint or "")
    with pytest.raises(NotFound, match="has no commits yet"):  # the branch was not touched
        ds.log("loop@master")


def test_put_refuses_a_link_that_never_resolves(
    ds: DataStore, make_files: Callable[..., Path]
) -> None:
    src = make_files("src", {"f.txt": b"x"})
    os.symlink("b", src / "a")
    os.symlink("a", src / "b")
    ds.create_repo("r")
    with pytest.raises(InvalidInput, match=r"cannot follow the local link '.*/src/a' \(Too many"):
        ds.put("r@master", [src])


@pytest.fixture
def conf(ds: DataStore) -> DataStore:
    ds.create_repo("conf")
    with ds.open_commit("conf@master") as c:
        c.put_bytes("/conf/a.txt", b"a")
        c.put_bytes("/conf/sub/x", b"x")
    return ds


def _listing(root: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(root)): p.read_bytes() if p.is_file() else None
            for p in sorted(root.rglob("*"))}


def test_get_of_a_folder_into_a_local_file_is_a_conflict(conf: DataStore, tmp_path: Path) -> None:
    local = tmp_path / "exist.txt"
    local.write_text("mine")
    with pytest.raises(Conflict) as err:
        conf.get("conf@master:/conf", local)
    assert err.value.message == (
        f"cannot get 'conf@master:/conf' (a folder): the local file '{local}' is where a "
        "folder must go")
    assert f"remove or rename '{local}'" in (err.value.hint or "")
    assert local.read_text() == "mine"


def test_get_refuses_a_local_file_where_a_subfolder_goes_before_writing(
    conf: DataStore, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "sub").write_text("mine")
    with pytest.raises(Conflict, match=f"the local file '{out / 'sub'}' is where a folder"):
        conf.get("conf@master:/conf", out)
    with pytest.raises(Conflict, match="the local file"):  # --overwrite does not replace it
        conf.get("conf@master:/conf", out, overwrite=True)
    assert _listing(out) == {"sub": b"mine"}  # nothing half-written: a.txt is not there
    # A file deeper in the way (a parent of the folder that must be made) is named too.
    with pytest.raises(Conflict, match=f"the local file '{out / 'sub'}' is where a folder"):
        conf.get("conf@master:/conf/sub/x", out / "sub" / "deeper" / "x")


def test_get_refuses_a_local_folder_where_a_file_goes(conf: DataStore, tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "sub" / "x").mkdir(parents=True)
    with pytest.raises(Conflict) as err:
        conf.get("conf@master:/conf", out, overwrite=True)
    assert err.value.message == (
        f"cannot get 'conf@master:/conf': the local folder '{out / 'sub' / 'x'}' is where the "
        "file '/conf/sub/x' must go")
    assert _listing(out) == {"sub": None, "sub/x": None}


def test_get_checks_every_existing_file_before_writing(conf: DataStore, tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    (out / "sub" / "x").write_text("mine")
    with pytest.raises(Conflict, match=f"{out / 'sub' / 'x'} already exists") as err:
        conf.get("conf@master:/conf", out)
    assert "pass --overwrite" in (err.value.hint or "")
    assert _listing(out) == {"sub": None, "sub/x": b"mine"}
    conf.get("conf@master:/conf", out, overwrite=True)
    assert _listing(out) == {"a.txt": b"a", "sub": None, "sub/x": b"x"}
