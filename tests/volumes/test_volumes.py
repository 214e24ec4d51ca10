"""The volumes library: create, snapshot (deduplicated), restore, data commits, delete."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from volume_helpers import blob_count

from flowyard.errors import Conflict, InvalidInput, NotFound, ResourceInvalid
from flowyard.store.metadata import MetadataStore
from flowyard.store.objects import ObjectStore
from flowyard.volumes import Volumes, volume_resource


def _fill(folder: Path, files: int, size: int, seed: bytes = b"x") -> None:
    block = os.urandom(size)
    for i in range(files):
        (folder / f"part-{i:03d}.bin").write_bytes(seed + block[i:] + block[:i])
    (folder / "notes").mkdir(exist_ok=True)
    (folder / "notes" / "readme.md").write_text("# notes\n")
    os.chmod(folder / "notes" / "readme.md", 0o600)
    time.sleep(0.06)  # files younger than 50 ms are not trusted by the stat cache


def test_create_gives_an_empty_ready_folder(vols: Volumes) -> None:
    vol = vols.create(volume_resource("ws", "team-a", shared=True))
    assert vol.status["phase"] == "Ready"
    path = vols.path("team-a", "ws")
    assert vol.status["path"] == str(path) and path.is_dir() and not any(path.iterdir())
    assert path == vols.settings.home / "volumes" / "team-a" / "ws"
    assert [v.name for v in vols.list("team-a")] == ["ws"] and vols.list("other") == []
    with pytest.raises(Conflict, match="already exists"):
        vols.create(volume_resource("ws", "team-a"))


def test_snapshot_twice_writes_no_new_blobs_and_restores(vols: Volumes,
                                                          objects: ObjectStore) -> None:
    vols.create(volume_resource("ws", "team-a"))
    folder = vols.path("team-a", "ws")
    _fill(folder, 20, 256 * 1024)
    first = vols.snapshot("team-a", "ws", "monday")
    assert first.status["phase"] == "Ready" and first.status["files"] == 21
    assert first.status["newBytes"] == first.status["bytes"] > 20 * 256 * 1024
    assert first.status["digest"].startswith("blake3:")
    blobs = blob_count(objects)

    second = vols.snapshot("team-a", "ws", "tuesday")
    assert blob_count(objects) == blobs                      # nothing new stored
    assert second.status["newBytes"] == 0 and second.status["filesRead"] == 0
    assert second.status["digest"] == first.status["digest"]

    (folder / "part-000.bin").write_bytes(b"changed")
    time.sleep(0.06)
    third = vols.snapshot("team-a", "ws", "wednesday")
    assert third.status["filesRead"] == 1 and 0 < third.status["newBytes"] < 1024
    assert third.status["digest"] != first.status["digest"]
    assert [s.name for s in vols.snapshots("team-a", "ws")] == ["monday", "tuesday",
                                                                 "wednesday"]
    assert vols.get("team-a", "ws").status["lastSnapshot"] == "wednesday"

    restored = vols.restore("team-a", "monday", "ws-monday")
    assert restored.status["source"]["snapshot"] == "monday"
    copy = vols.path("team-a", "ws-monday")
    for name in ("part-000.bin", "part-007.bin", "notes/readme.md"):
        assert (copy / name).read_bytes() != b"changed"
    assert (copy / "part-007.bin").read_bytes() == (folder / "part-007.bin").read_bytes()
    assert (copy / "notes" / "readme.md").stat().st_mode & 0o777 == 0o600
    assert restored.status["files"] == 21


def test_an_empty_volume_snapshots_and_restores_empty(vols: Volumes) -> None:
    vols.create(volume_resource("empty", "team-a"))
    snap = vols.snapshot("team-a", "empty", "nothing")
    assert snap.status["files"] == 0 and snap.status["phase"] == "Ready"
    vols.restore("team-a", "nothing", "still-empty")
    assert not any(vols.path("team-a", "still-empty").iterdir())


def test_snapshot_as_a_data_commit_and_back(vols: Volumes) -> None:
    vols.create(volume_resource("ws", "team-a"))
    folder = vols.path("team-a", "ws")
    _fill(folder, 3, 2048)
    snap = vols.snapshot("team-a", "ws", "v1")
    ds = vols.data
    ds.create_repo("datasets")
    commit = vols.commit("team-a", "v1", "datasets@master:/ws")
    assert commit is not None and commit.files == 4
    assert commit.provenance == [snap.status["commit"]]
    assert commit.info["volumeSnapshot"] == "v1"
    assert [c.repo for c in ds.provenance("datasets@master")] == ["volumes.team-a"]
    assert ds.get_repo("volumes.team-a").namespace == "team-a"
    assert ds.read_bytes("datasets@master:/ws/notes/readme.md") == b"# notes\n"

    back = vols.create(volume_resource("from-data", "team-a", data="datasets@master:/ws"))
    assert back.status["source"] == {"data": "datasets@master:/ws", "commit": commit.id}
    got = vols.path("team-a", "from-data")
    assert sorted(p.name for p in got.iterdir()) == sorted(p.name for p in folder.iterdir())
    assert (got / "part-002.bin").read_bytes() == (folder / "part-002.bin").read_bytes()

    # Committing it again, or an unchanged later snapshot (the same snapshot commit), is no
    # news; a snapshot with new files is.
    assert vols.commit("team-a", "v1", "datasets@master:/ws") is None
    assert vols.snapshot("team-a", "ws", "v2").status["commit"] == snap.status["commit"]
    assert vols.commit("team-a", "v2", "datasets@master:/ws") is None
    assert [c.id for c in ds.log("datasets@master")] == [commit.id]
    (folder / "notes" / "readme.md").write_bytes(b"# notes v3\n")
    v3 = vols.snapshot("team-a", "ws", "v3")
    newer = vols.commit("team-a", "v3", "datasets@master:/ws")
    assert newer is not None and newer.parent == commit.id
    assert newer.provenance == [v3.status["commit"]]


def test_on_a_platform_volumes_use_only_their_profiles_repos(
        vols: Volumes, metadata: MetadataStore, objects: ObjectStore) -> None:
    ds = vols.data
    ds.create_repo("theirs", namespace="team-b")
    ds.put_bytes("theirs@master:/secret.txt", b"team-b's")
    ds.create_repo("ours", namespace="team-a")
    vols.create(volume_resource("ws", "team-a"))
    (vols.path("team-a", "ws") / "a.txt").write_text("a")
    vols.snapshot("team-a", "ws", "s1")
    guarded = Volumes(metadata, objects, vols.settings, own_profile_data=True)
    try:
        with pytest.raises(NotFound, match=r"source\.data: repo 'theirs' not found in "
                                           r"namespace 'team-a'"):
            guarded.create(volume_resource("peek", "team-a", data="theirs@master"))
        assert not guarded.path("team-a", "peek").exists()
        with pytest.raises(NotFound, match="commit: repo 'theirs' not found in namespace"):
            guarded.commit("team-a", "s1", "theirs@master:/ws")
        made = guarded.commit("team-a", "s1", "ours@master:/ws")
        assert made is not None and made.files == 1
        assert guarded.create(volume_resource("copy", "team-a", data="ours@master:/ws"))
    finally:
        guarded.close()
    # In-process (no platform) every repo is the caller's.
    assert vols.create(volume_resource("peek", "team-a", data="theirs@master"))
    assert (vols.path("team-a", "peek") / "secret.txt").read_bytes() == b"team-b's"


def test_delete_removes_folder_keeps_snapshots(vols: Volumes) -> None:
    vols.create(volume_resource("ws", "team-a"))
    (vols.path("team-a", "ws") / "a.txt").write_text("a")
    vols.snapshot("team-a", "ws", "keep")
    vols.delete("team-a", "ws")
    assert not vols.path("team-a", "ws").exists()
    with pytest.raises(NotFound):
        vols.get("team-a", "ws")
    vols.restore("team-a", "keep", "ws")
    assert (vols.path("team-a", "ws") / "a.txt").read_text() == "a"


def test_bad_input_is_refused_naming_the_value(vols: Volumes) -> None:
    with pytest.raises(ResourceInvalid, match="DNS-1123"):
        vols.create(volume_resource("Bad_Name", "team-a"))
    with pytest.raises(ResourceInvalid, match="size"):
        vols.create(volume_resource("ws", "team-a", size="lots"))
    with pytest.raises(InvalidInput, match=r"profile '\.\./etc'"):
        vols.path("../etc", "ws")
    with pytest.raises(NotFound, match="VolumeSnapshot 'nope'") as err:
        vols.restore("team-a", "nope", "copy")
    assert "no snapshots" in (err.value.hint or "")
    with pytest.raises(NotFound, match="Volume 'ghost'"):
        vols.snapshot("team-a", "ghost", "s")
    vols.create(volume_resource("ws", "team-a"))
    vols.snapshot("team-a", "ws", "s1")
    with pytest.raises(Conflict, match="already exists"):
        vols.snapshot("team-a", "ws", "s1")
    with pytest.raises(InvalidInput, match="snapshot name 'Monday!'"):
        vols.snapshot("team-a", "ws", "Monday!")
    with pytest.raises(NotFound, match="repo 'nowhere'"):
        vols.commit("team-a", "s1", "nowhere@master")
    # a failed source leaves nothing: no record, no folder, no staging folder
    with pytest.raises(NotFound):
        vols.create(volume_resource("bad-src", "team-a", data="nowhere@master:/x"))
    with pytest.raises(NotFound):
        vols.get("team-a", "bad-src")
    assert sorted(os.listdir(vols.path("team-a", "ws").parent)) == ["ws"]


def test_mount_links_are_skipped_deeper_folder_links_refused(vols: Volumes,
                                                              tmp_path: Path) -> None:
    vols.create(volume_resource("ws", "team-a"))
    folder = vols.path("team-a", "ws")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "big.bin").write_bytes(b"not mine")
    (folder / "mine.txt").write_text("mine")
    (folder / "sub").mkdir()
    (folder / "sub" / "deep.txt").write_text("deep")
    os.symlink(tmp_path / "elsewhere", folder / "data")      # what a notebook mount makes
    snap = vols.snapshot("team-a", "ws", "s1")
    assert snap.status["files"] == 2 and snap.status["skipped"] == ["data"]
    again = vols.snapshot("team-a", "ws", "s2")
    assert again.status["newBytes"] == 0 and again.status["digest"] == snap.status["digest"]
    assert again.status["commit"] == snap.status["commit"]      # unchanged: no new commit
    vols.restore("team-a", "s1", "copy")
    copy = vols.path("team-a", "copy")
    assert sorted(p.name for p in copy.iterdir()) == ["mine.txt", "sub"]

    os.symlink(tmp_path / "elsewhere", folder / "sub" / "loop")
    with pytest.raises(InvalidInput, match="symlinks to folders \\(sub/loop\\)"):
        vols.snapshot("team-a", "ws", "s3")
    assert [s.name for s in vols.snapshots("team-a")] == ["s1", "s2"]


def test_unchanged_100mb_snapshot_writes_nothing_and_is_fast(vols: Volumes,
                                                             objects: ObjectStore) -> None:
    vols.create(volume_resource("big", "team-a"))
    folder = vols.path("team-a", "big")
    block = os.urandom(4 << 20)
    for i in range(25):  # 100 MiB in 25 files
        (folder / f"shard-{i:02d}.bin").write_bytes(block[i:] + block[:i])
    time.sleep(0.06)
    first = vols.snapshot("team-a", "big", "first")
    assert first.status["bytes"] == 100 << 20
    blobs = blob_count(objects)
    started = time.monotonic()
    second = vols.snapshot("team-a", "big", "second")
    elapsed = time.monotonic() - started
    assert blob_count(objects) == blobs and second.status["newBytes"] == 0
    assert second.status["filesRead"] == 0
    assert elapsed < 2.0, f"an unchanged 100 MiB snapshot took {elapsed:.2f}s"
