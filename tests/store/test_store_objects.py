"""ObjectStore on a local folder and on S3 (moto); the `objects` fixture runs both."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import blake3
import pytest

from flowyard.errors import ConfigError, Conflict, InvalidInput, NotFound, StoreError
from flowyard.settings import Settings
from flowyard.store.objects import THREADED_HASH_MIN, BlobInfo, ObjectStore, hash_bytes, hash_file

MISSING = "blake3:" + "0" * 64


def digest_of(data: bytes) -> str:
    return "blake3:" + blake3.blake3(data).hexdigest()


def make_tree(root: Path) -> dict[str, bytes]:
    files = {
        "a.txt": b"alpha",
        "sub/b.bin": os.urandom(3000),
        "sub/deeper/c.txt": b"gamma",
        "sub/deeper/dup.txt": b"alpha",  # same content as a.txt: one blob
        "run.sh": b"#!/bin/sh\necho hi\n",
    }
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    os.chmod(root / "run.sh", 0o755)
    return files


# -- hashing ------------------------------------------------------------------------------


def test_hash_file_small_and_big(tmp_path: Path) -> None:
    small = tmp_path / "small"
    small.write_bytes(b"hello")
    assert hash_file(small) == digest_of(b"hello") == hash_bytes(b"hello")
    big_data = os.urandom(THREADED_HASH_MIN + 12345)  # multithreaded path, not a chunk multiple
    big = tmp_path / "big"
    big.write_bytes(big_data)
    assert hash_file(big) == digest_of(big_data)
    assert hash_bytes(big_data) == digest_of(big_data)


# -- both backends ------------------------------------------------------------------------


def test_put_and_get_bytes(objects: ObjectStore) -> None:
    info = objects.put_bytes(b"hello")
    assert info == BlobInfo(digest_of(b"hello"), 5)
    assert objects.exists(info.digest)
    assert objects.get_bytes(info.digest) == b"hello"
    with objects.open(info.digest) as f:
        assert f.read() == b"hello"
    assert not objects.is_tree(info.digest)


def test_same_content_is_stored_once(objects: ObjectStore, tmp_path: Path) -> None:
    src = tmp_path / "f"
    src.write_bytes(b"same")
    infos = {objects.put_bytes(b"same"), objects.put_file(src), objects.put_bytes(b"same")}
    assert len(infos) == 1
    assert list(objects.iter_digests()) == [digest_of(b"same")]


def test_put_file_copy_keeps_the_source(objects: ObjectStore, tmp_path: Path) -> None:
    src = tmp_path / "data.bin"
    data = os.urandom(2 * 1024 * 1024 + 7)
    src.write_bytes(data)
    info = objects.put_file(src)
    assert info == BlobInfo(digest_of(data), len(data))
    assert src.read_bytes() == data
    assert objects.get_bytes(info.digest) == data


def test_put_file_move_consumes_the_source(objects: ObjectStore, tmp_path: Path) -> None:
    src = tmp_path / "out.bin"
    src.write_bytes(b"moved")
    inode = src.stat().st_ino
    info = objects.put_file(src, move=True)
    assert not src.exists()
    assert objects.get_bytes(info.digest) == b"moved"
    if objects.is_local:
        assert objects.local_path(info.digest).stat().st_ino == inode  # renamed, not copied
    again = tmp_path / "again.bin"
    again.write_bytes(b"moved")
    assert objects.put_file(again, move=True) == info  # dedup still consumes the source
    assert not again.exists()


def test_put_tree_and_materialize(objects: ObjectStore, tmp_path: Path) -> None:
    src = tmp_path / "model"
    files = make_tree(src)
    info = objects.put_tree(src)
    assert objects.is_tree(info.digest)
    entries = objects.tree_entries(info.digest)
    assert sorted(entries) == sorted(files)
    b = entries["sub/b.bin"]
    assert (b["digest"], b["size"]) == (digest_of(files["sub/b.bin"]), 3000)
    assert b["mode"] == (src / "sub/b.bin").stat().st_mode & 0o777
    assert entries["run.sh"]["mode"] & 0o111
    # 4 distinct contents + the manifest
    assert len(set(objects.iter_digests())) == 5
    assert objects.put_path(src) == info  # same tree, same digest

    out = objects.materialize(info.digest, tmp_path / "out" / "model")
    got = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert got == files
    assert os.access(out / "run.sh", os.X_OK)
    if objects.is_local:  # plain files are hard links to the blobs, executables are copies
        assert (out / "a.txt").stat().st_ino == objects.local_path(
            digest_of(b"alpha")
        ).stat().st_ino
        assert (out / "run.sh").stat().st_nlink == 1
    assert not [p for p in out.parent.iterdir() if p.name != "model"]  # no staging left


def test_put_tree_move_consumes_the_folder(objects: ObjectStore, tmp_path: Path) -> None:
    src = tmp_path / "outdir"
    files = make_tree(src)
    info = objects.put_path(src, move=True)
    assert not src.exists()
    out = objects.materialize(info.digest, tmp_path / "back")
    assert (out / "sub/deeper/c.txt").read_bytes() == files["sub/deeper/c.txt"]


def test_materialize_a_file(objects: ObjectStore, tmp_path: Path) -> None:
    info = objects.put_bytes(b"weights")
    dest = objects.materialize(info.digest, tmp_path / "x" / "w.bin")
    assert dest.read_bytes() == b"weights"
    with pytest.raises(Conflict, match=f"{info.digest} at {dest}: it already exists"):
        objects.materialize(info.digest, dest)


def test_local_path(objects: ObjectStore, tmp_path: Path) -> None:
    info = objects.put_bytes(b"local please")
    path = objects.local_path(info.digest)
    assert path.read_bytes() == b"local please"
    assert objects.local_path(info.digest) == path  # downloaded once
    if not objects.is_local:
        assert path.is_relative_to(tmp_path / "cache")


def test_missing_digest_is_not_found(objects: ObjectStore, tmp_path: Path) -> None:
    assert not objects.exists(MISSING)
    for call in (
        objects.get_bytes,
        objects.local_path,
        objects.open,
        objects.is_tree,
        lambda d: objects.materialize(d, tmp_path / "m"),
    ):
        with pytest.raises(NotFound) as info:
            call(MISSING)
        assert MISSING in str(info.value) and objects.url in str(info.value)


def test_malformed_digest_is_invalid_input(objects: ObjectStore) -> None:
    with pytest.raises(InvalidInput, match="'sha256:abc' is not a blob digest"):
        objects.get_bytes("sha256:abc")


def test_put_of_a_missing_path_is_invalid_input(objects: ObjectStore, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=f"cannot store {tmp_path / 'nope'}: .*does not exist"):
        objects.put_file(tmp_path / "nope")
    with pytest.raises(InvalidInput, match="it is a folder; use put_tree"):
        objects.put_file(tmp_path)
    with pytest.raises(InvalidInput, match="not a folder"):
        objects.put_tree(tmp_path / "nope")


def test_delete_and_iter(objects: ObjectStore) -> None:
    a = objects.put_bytes(b"a")
    b = objects.put_bytes(b"b")
    assert sorted(objects.iter_digests()) == sorted([a.digest, b.digest])
    objects.delete(a.digest)
    objects.delete(a.digest)  # deleting twice is fine
    assert not objects.exists(a.digest)
    assert list(objects.iter_digests()) == [b.digest]


# -- local only ---------------------------------------------------------------------------


def test_local_layout_and_readonly_blobs(tmp_path: Path) -> None:
    store = ObjectStore(f"file://{tmp_path / 'objs'}")
    assert store.is_local
    info = store.put_bytes(b"x")
    hexd = info.digest.removeprefix("blake3:")
    blob = tmp_path / "objs" / "blobs" / hexd[:2] / hexd[2:4] / hexd
    assert store.local_path(info.digest) == blob
    assert blob.stat().st_mode & 0o777 == 0o444
    assert list((tmp_path / "objs" / "tmp").iterdir()) == []


def test_unwritable_local_root_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"")
    root = blocker / "objects"
    with pytest.raises(ConfigError) as info:
        ObjectStore(str(root))
    assert str(root / "blobs") in str(info.value)


def test_from_settings_local_default(tmp_path: Path) -> None:
    store = ObjectStore.from_settings(Settings(home=tmp_path / "home"))
    assert store.is_local
    assert store.url == str(tmp_path / "home" / "objects")
    assert (tmp_path / "home" / "objects" / "blobs").is_dir()


# -- S3 only ------------------------------------------------------------------------------

S3Options = Callable[[str], dict[str, Any]]


def s3_store(endpoint: str, options: S3Options, tmp_path: Path) -> ObjectStore:
    return ObjectStore(
        "s3://flowyard-test/store", cache_dir=tmp_path / "cache", storage_options=options(endpoint)
    )


def test_s3_layout(
    s3_endpoint: str, s3_client: Any, s3_store_options: S3Options, tmp_path: Path
) -> None:
    store = s3_store(s3_endpoint, s3_store_options, tmp_path)
    assert not store.is_local
    info = store.put_bytes(b"on s3")
    hexd = info.digest.removeprefix("blake3:")
    obj = s3_client.get_object(
        Bucket="flowyard-test", Key=f"store/blobs/{hexd[:2]}/{hexd[2:4]}/{hexd}"
    )
    assert obj["Body"].read() == b"on s3"
    keys = [o["Key"] for o in s3_client.list_objects_v2(Bucket="flowyard-test")["Contents"]]
    assert keys == [f"store/blobs/{hexd[:2]}/{hexd[2:4]}/{hexd}"]  # no temp objects on S3


def test_s3_corruption_is_detected(
    s3_endpoint: str, s3_client: Any, s3_store_options: S3Options, tmp_path: Path
) -> None:
    store = s3_store(s3_endpoint, s3_store_options, tmp_path)
    info = store.put_bytes(b"precious bytes")
    hexd = info.digest.removeprefix("blake3:")
    key = f"store/blobs/{hexd[:2]}/{hexd[2:4]}/{hexd}"
    flipped = bytearray(b"precious bytes")
    flipped[3] ^= 0x01
    s3_client.put_object(Bucket="flowyard-test", Key=key, Body=bytes(flipped))
    for call in (store.get_bytes, store.local_path):
        with pytest.raises(StoreError) as err:
            call(info.digest)
        message = str(err.value)
        assert (
            "corrupt" in message
            and info.digest in message
            and "s3://flowyard-test/store" in message
        )
    assert not list((tmp_path / "cache").rglob("*.part"))  # the bad download was removed
    assert not any(p.is_file() for p in (tmp_path / "cache").rglob("*"))


def test_s3_from_settings_uses_the_endpoint(
    s3_endpoint: str, s3_client: Any, tmp_path: Path
) -> None:
    settings = Settings(
        home=tmp_path / "home",
        object_store_url="s3://flowyard-test/fromsettings",
        s3_endpoint_url=s3_endpoint,
    )
    store = ObjectStore.from_settings(settings)
    info = store.put_bytes(b"via settings")
    assert store.local_path(info.digest).is_relative_to(tmp_path / "home" / "cache" / "objects")


def test_unreachable_s3_is_a_store_error_naming_the_url(
    s3_store_options: S3Options, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}"
    store = ObjectStore(
        "s3://nowhere/x", cache_dir=tmp_path / "c", storage_options=s3_store_options(endpoint)
    )
    with pytest.raises(StoreError) as err:
        store.put_bytes(b"x")
    message = str(err.value)
    assert "object store s3://nowhere/x" in message and endpoint in message
    with pytest.raises(StoreError, match="s3://nowhere/x"):
        store.get_bytes(MISSING)
