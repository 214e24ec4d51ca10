"""Volumes on a live platform: resources applied over HTTP, made real by its controller;
the CLI with --server waits for it."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

PLATFORM_TESTS = str(Path(__file__).parent.parent / "platform")
if PLATFORM_TESTS not in sys.path:
    sys.path.append(PLATFORM_TESTS)  # platform_helpers: start_platform, wait_for

from platform_helpers import LivePlatform, start_platform, wait_for  # noqa: E402

from cli_runner import Result, cli_runner  # noqa: E402

API = "/api/v1alpha1"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LivePlatform]:
    platform = start_platform(tmp_path_factory.mktemp("volumes-platform") / "home", 60)
    try:
        yield platform
    finally:
        platform.stop()


@pytest.fixture
def cli(live: LivePlatform, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[..., Result]:
    monkeypatch.setenv("FLOWYARD_HOME", str(tmp_path / "client-home"))  # not the platform's
    monkeypatch.setenv("FLOWYARD_SERVER", live.url)
    monkeypatch.setenv("FLOWYARD_TOKEN", live.token)
    return cli_runner(capsys)


def _get(live: LivePlatform, plural: str, name: str) -> dict[str, Any]:
    answer = httpx.get(f"{live.url}{API}/namespaces/default/{plural}/{name}",
                       headers=live.headers, timeout=10)
    answer.raise_for_status()
    body: dict[str, Any] = answer.json()
    return body


def test_cli_through_the_platform(live: LivePlatform, cli: Callable[..., Result]) -> None:
    made = cli("volume", "create", "ws", "--wait", "60")
    assert made.code == 0, made.err
    folder = live.home / "volumes" / "default" / "ws"
    assert folder.is_dir() and str(folder) in made.out
    (folder / "data.csv").write_text("a,b\n1,2\n")
    snap = cli("volume", "snapshot", "ws", "--name", "ws-1", "--wait", "60")
    assert snap.code == 0, snap.err
    assert "1 files" in snap.out and "8 B new" in snap.out
    again = cli("volume", "snapshot", "ws", "--name", "ws-2", "--wait", "60")
    assert "0 B new" in again.out
    restored = cli("volume", "restore", "ws-1", "ws-copy", "--wait", "60")
    assert restored.code == 0, restored.err
    assert (live.home / "volumes" / "default" / "ws-copy" / "data.csv").read_text() == "a,b\n1,2\n"
    listed = cli("volume", "snapshots")
    assert "ws-1" in listed.out and "ws-2" in listed.out
    assert cli("data", "repo", "create", "datasets").code == 0
    commit = cli("volume", "commit", "ws-1", "datasets@master:/ws", "-m", "from ws-1")
    assert commit.code == 0, commit.err
    assert "committed snapshot ws-1 as datasets@" in commit.out and "(1 files)" in commit.out
    same = cli("volume", "commit", "ws-2", "datasets@master:/ws")    # ws-2 == ws-1
    assert same.code == 0 and "no new commit" in same.out
    inspected = json.loads(cli("data", "inspect", "datasets@master", "-o", "json").out)
    assert inspected["provenance"] == [_get(live, "volumesnapshots", "ws-1")["status"]["commit"]]
    assert inspected["files"] == 1 and inspected["message"] == "from ws-1"
    deleted = cli("volume", "delete", "ws-copy")
    assert deleted.code == 0, deleted.err
    wait_for(lambda: not (live.home / "volumes" / "default" / "ws-copy").exists(), 30,
             "the deleted volume's folder removed by the controller")


def test_applied_resources_and_failures(live: LivePlatform, cli: Callable[..., Result]) -> None:
    volume = {"apiVersion": "flowyard.dev/v1alpha1", "kind": "Volume",
              "metadata": {"name": "from-nowhere", "namespace": "default"},
              "spec": {"source": {"data": "nowhere@master:/x"}}}
    answer = httpx.put(f"{live.url}{API}/namespaces/default/volumes/from-nowhere",
                       json=volume, headers=live.headers, timeout=10)
    assert answer.status_code == 201, answer.text
    wait_for(lambda: _get(live, "volumes", "from-nowhere").get("status", {}).get("phase")
             == "Failed", 30, "the Volume reported Failed")
    status = _get(live, "volumes", "from-nowhere")["status"]
    assert "nowhere" in status["message"]
    assert not (live.home / "volumes" / "default" / "from-nowhere").exists()

    failed = cli("volume", "create", "bad-source", "--from-data", "nowhere@master",
                 "--wait", "60")
    assert failed.code == 1 and "Volume 'bad-source' failed" in failed.err
    gone = httpx.get(f"{live.url}{API}/namespaces/default/volumes/bad-source",
                     headers=live.headers, timeout=10)
    assert gone.status_code == 404                         # the CLI left nothing behind

    assert cli("volume", "create", "shared-ws", "--shared", "--wait", "60").code == 0
    snapshot = {"apiVersion": "flowyard.dev/v1alpha1", "kind": "VolumeSnapshot",
                "metadata": {"name": "of-ghost", "namespace": "default"},
                "spec": {"volume": "ghost"}}
    httpx.put(f"{live.url}{API}/namespaces/default/volumesnapshots/of-ghost", json=snapshot,
              headers=live.headers, timeout=10).raise_for_status()
    wait_for(lambda: _get(live, "volumesnapshots", "of-ghost").get("status", {}).get("phase")
             == "Failed", 30, "the snapshot of a missing volume reported Failed")
    assert "Volume 'ghost' not found" in _get(live, "volumesnapshots", "of-ghost")[
        "status"]["message"]


def test_claims_show_in_status_and_block_delete(live: LivePlatform,
                                                cli: Callable[..., Result]) -> None:
    from flowyard.store.metadata import MetadataStore
    from flowyard.volumes import attach, release

    assert cli("volume", "create", "held", "--wait", "60").code == 0
    with MetadataStore(f"sqlite:///{live.home / 'flowyard.db'}") as meta:
        attach(meta, live.home, "default", "held", "notebook/explore")
        wait_for(lambda: _get(live, "volumes", "held")["status"].get("attachments"), 30,
                 "the claim mirrored into status.attachments")
        assert _get(live, "volumes", "held")["status"]["attachments"][0]["holder"] == \
            "notebook/explore"
        refused = cli("volume", "delete", "held")
        assert refused.code == 2 and "attached to notebook/explore (rw)" in refused.err
        assert "notebook/explore(rw)" in cli("volume", "list").out
        release(meta, "default", "held", "notebook/explore")
    wait_for(lambda: _get(live, "volumes", "held")["status"].get("attachments") == [], 30,
             "the release mirrored")
    assert cli("volume", "delete", "held").code == 0


def test_snapshot_cut_by_a_platform_crash_is_taken_after_restart(tmp_path: Path) -> None:
    import os

    from flowyard.settings import Settings
    from flowyard.store.metadata import MetadataStore
    from flowyard.store.objects import ObjectStore
    from flowyard.volumes import Volumes, volume_resource
    from flowyard.volumes.snapshots import repo_for

    home = tmp_path / "home"
    settings = Settings(home=home)
    settings.ensure_home()
    objects = ObjectStore.from_settings(settings)
    with MetadataStore.from_settings(settings) as meta:
        vols = Volumes(meta, objects, settings)
        vols.create(volume_resource("big", "default"))
        for i in range(12):      # 192 MiB: the snapshot takes a few seconds
            (vols.path("default", "big") / f"c{i:02d}.bin").write_bytes(os.urandom(16 << 20))
        vols.close()
    platform = start_platform(home, 60)
    try:
        snapshot = {"apiVersion": "flowyard.dev/v1alpha1", "kind": "VolumeSnapshot",
                    "metadata": {"name": "cut", "namespace": "default"},
                    "spec": {"volume": "big"}}
        httpx.put(f"{platform.url}{API}/namespaces/default/volumesnapshots/cut",
                  json=snapshot, headers=platform.headers, timeout=10).raise_for_status()
        wait_for(lambda: any(True for _ in objects.iter_digests()), 60,
                 "the snapshot's first pack stored")
        platform.kill()
    finally:
        platform.stop()
    with MetadataStore.from_settings(settings) as meta:
        body = meta.get_resource("VolumeSnapshot", "default", "cut")
        assert (body.get("status") or {}).get("phase") != "Ready"
        vols = Volumes(meta, objects, settings)
        heads = {b.name: b.head for b in vols.data.list_branches(repo_for("default"))}
        assert heads["big"] is None                      # nothing was published
        vols.close()
    platform = start_platform(home, 60)
    try:
        wait_for(lambda: _get(platform, "volumesnapshots", "cut").get("status", {}).get(
            "phase") == "Ready", 120, "the snapshot taken after the restart")
        assert _get(platform, "volumesnapshots", "cut")["status"]["files"] == 12
    finally:
        platform.stop()


def _user(live: LivePlatform, name: str, profile: str) -> str:
    """A user owning a new profile; their token."""
    with httpx.Client(base_url=live.url, headers=live.headers, timeout=10) as admin:
        assert admin.post(f"{API}/users", json={"name": name}).status_code == 201
        made = admin.post(f"{API}/profiles", json={"name": profile, "owner": name})
        assert made.status_code == 201, made.text
        token = admin.post(f"{API}/tokens", json={"user": name}).json()["token"]
    return str(token)


def _ready(client: Any, kind: str, name: str) -> dict[str, Any]:
    wait_for(lambda: client.get(kind, name).status.get("phase") in ("Ready", "Failed"), 60,
             f"{kind} {name} Ready")
    status: dict[str, Any] = client.get(kind, name).status
    assert status["phase"] == "Ready", status
    return status


def test_snapshot_commit_over_http_checks_the_profile(live: LivePlatform,
                                                      tmp_path: Path) -> None:
    from flowyard.client import Client
    from flowyard.client.http import HttpTransport
    from flowyard.client.volumes import commit_snapshot
    from flowyard.data.records import Commit
    from flowyard.errors import FlowyardError, InvalidInput, NotFound
    from flowyard.resources.loader import parse_resource
    from flowyard.settings import Settings
    from flowyard.volumes import volume_resource

    vera, walt = _user(live, "vera", "vol-a"), _user(live, "walt", "vol-b")
    with httpx.Client(base_url=live.url, headers=live.headers, timeout=10) as admin:
        added = admin.put(f"{API}/profiles/vol-a/contributors/walt", json={"role": "view"})
        assert added.status_code == 200, added.text

    def client(token: str, profile: str) -> Client:
        return Client(server=live.url, token=token,
                      settings=Settings(home=tmp_path / "client", namespace=profile))

    def commit(c: Client, profile: str, snapshot: str, target: str,
               message: str = "") -> Commit | None:
        assert isinstance(c.transport, HttpTransport)
        return commit_snapshot(c.transport, profile, snapshot, target, message=message)

    with client(vera, "vol-a") as c:
        c.apply(volume_resource("ws", "vol-a"))
        _ready(c, "Volume", "ws")
        (live.home / "volumes" / "vol-a" / "ws" / "x.csv").write_text("1,2\n")
        c.apply(parse_resource({"apiVersion": "flowyard.dev/v1alpha1", "kind": "VolumeSnapshot",
                                "metadata": {"name": "s1", "namespace": "vol-a"},
                                "spec": {"volume": "ws"}}))
        snap = _ready(c, "VolumeSnapshot", "s1")
        c.data.create_repo("vol-a-data")
        made = commit(c, "vol-a", "s1", "vol-a-data@master:/ws", "s1 as data")
        assert made is not None and made.files == 1 and made.provenance == [snap["commit"]]
        assert made.info["volumeSnapshot"] == "s1" and made.message == "s1 as data"
        assert c.data.read_bytes("vol-a-data@master:/ws/x.csv") == b"1,2\n"
        assert commit(c, "vol-a", "s1", "vol-a-data@master:/ws") is None   # nothing new
        assert [x.id for x in c.data.log("vol-a-data@master")] == [made.id]

        assert isinstance(c.transport, HttpTransport)
        url = f"{API}/namespaces/vol-a/volumesnapshots/s1/commit"
        bad = c.transport.http.post(url, json={"target": 5})
        assert bad.status_code == 400 and "expects {target, message}" in bad.text
        bad = c.transport.http.post(url, json={"target": "vol-a-data@@x"})
        assert bad.status_code == 400 and "field target='vol-a-data@@x'" in bad.text
        with pytest.raises(InvalidInput, match="'vol-a-data@@x'"):     # refused client-side
            commit(c, "vol-a", "s1", "vol-a-data@@x")
        with pytest.raises(NotFound, match="VolumeSnapshot 'nope' not found"):
            commit(c, "vol-a", "nope", "vol-a-data@master")
        with pytest.raises(NotFound, match="repo 'nowhere' not found in namespace 'vol-a'"):
            commit(c, "vol-a", "s1", "nowhere@master")

    with client(walt, "vol-b") as w:
        w.data.create_repo("vol-b-data")
        w.data.put_bytes("vol-b-data@master:/secret.txt", b"walt's")
        with pytest.raises(FlowyardError, match="may only view profile 'vol-a'"):
            commit(w, "vol-a", "s1", "vol-a-data@master:/w")     # a viewer does not write
    with client(vera, "vol-a") as c:
        # A repo of another profile answers like a missing one, and so does a profile in
        # which vera has no role.
        with pytest.raises(NotFound, match="repo 'vol-b-data' not found in namespace 'vol-a'"):
            commit(c, "vol-a", "s1", "vol-b-data@master")
        with pytest.raises(NotFound, match="not found in namespace 'vol-b'"):
            commit(c, "vol-b", "s1", "vol-b-data@master")
        assert [x.id for x in c.data.log("vol-a-data@master")] == [made.id]

        # Filling a volume reads with the profile's rights too: her own repo, not walt's.
        c.apply(volume_resource("own", "vol-a", data="vol-a-data@master:/ws"))
        assert _ready(c, "Volume", "own")["source"]["commit"] == made.id
        assert (live.home / "volumes" / "vol-a" / "own" / "x.csv").read_text() == "1,2\n"
        c.apply(volume_resource("peek", "vol-a", data="vol-b-data@master"))
        wait_for(lambda: c.get("Volume", "peek").status.get("phase") == "Failed", 60,
                 "the Volume filled from another profile's repo Failed")
        assert ("source.data: repo 'vol-b-data' not found in namespace 'vol-a'"
                in c.get("Volume", "peek").status["message"])
        assert not (live.home / "volumes" / "vol-a" / "peek").exists()
