"""`Client(server=...).data` and `flowyard --server URL data ...` against a live platform."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest
from platform_helpers import API, LivePlatform

from cli_runner import run_cli_bytes
from flowyard.client import Client
from flowyard.errors import Conflict, InvalidInput, NotFound
from flowyard.settings import Settings


def make_user(live: LivePlatform, name: str, profile: str) -> str:
    with httpx.Client(base_url=live.url, headers=live.headers) as admin:
        assert admin.post(f"{API}/users", json={"name": name}).status_code == 201
        made = admin.post(f"{API}/profiles", json={"name": profile, "owner": name})
        assert made.status_code == 201, made.text
        token = admin.post(f"{API}/tokens", json={"user": name}).json()["token"]
    return str(token)


@pytest.fixture(scope="module")
def tokens(live: LivePlatform) -> dict[str, str]:
    return {"dana": make_user(live, "dana", "data-a"), "eve": make_user(live, "eve", "data-b")}


def client(live: LivePlatform, token: str, namespace: str, home: Path) -> Client:
    return Client(server=live.url, token=token, settings=Settings(home=home,
                                                                  namespace=namespace))


def test_the_sdk_works_like_the_embedded_store(live: LivePlatform, tokens: dict[str, str],
                                               tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_bytes(b"alpha")
    (src / "sub" / "b.txt").write_bytes(b"beta" * 1000)
    with client(live, tokens["dana"], "data-a", tmp_path / "home") as c:
        ds = c.data
        repo = ds.create_repo("sdk", description="from the SDK")
        assert repo.namespace == "data-a"
        first = ds.put("sdk@master:/folder", [src])
        assert first.changed and first.files == 2 and first.commit is not None
        again = ds.put("sdk@master:/folder", [src])
        assert not again.changed
        ds.put("sdk@master:/single.txt", [src / "a.txt"], message="one file")
        assert ds.read_bytes("sdk@master:/single.txt") == b"alpha"
        assert [e.path for e in ds.ls("sdk@master:/folder", recursive=True)] == [
            "/folder/a.txt", "/folder/sub/b.txt"]
        assert [x.message for x in ds.log("sdk@master")] == ["one file", ""]
        assert [d.path for d in ds.diff("sdk@master^", "sdk@master")] == ["/single.txt"]
        out = ds.get("sdk@master:/folder", tmp_path / "out")
        assert out.files == 2
        assert (tmp_path / "out" / "sub" / "b.txt").read_bytes() == b"beta" * 1000
        with pytest.raises(Conflict, match="already exists"):
            ds.get("sdk@master:/folder", tmp_path / "out")
        ds.get("sdk@master:/single.txt", tmp_path / "one.txt")
        assert (tmp_path / "one.txt").read_bytes() == b"alpha"
        ds.get("sdk@master:/single.txt", tmp_path / "out")  # into a folder: keeps its name
        assert (tmp_path / "out" / "single.txt").read_bytes() == b"alpha"
        ds.create_branch("sdk@dev", start="master^")
        assert [b.name for b in ds.list_branches("sdk")] == ["dev", "master"]
        assert ds.inspect("sdk@dev").id == first.commit.id
        ds.delete_branch("sdk@dev")
        with pytest.raises(NotFound, match="path '/nope' not found"):
            ds.read_bytes("sdk@master:/nope")
        with pytest.raises(InvalidInput, match="escapes the repo"):
            ds.read_bytes("sdk@master:/../x")
    with client(live, tokens["eve"], "data-b", tmp_path / "home") as other:
        assert other.data.list_repos() == []
        with pytest.raises(NotFound, match="not found in namespace 'data-b'"):
            other.data.read_bytes("sdk@master:/single.txt")


def test_the_cli_talks_to_the_server(live: LivePlatform, tokens: dict[str, str],
                                     tmp_path: Path) -> None:
    env = {**live.env, "FLOWYARD_TOKEN": tokens["dana"], "FLOWYARD_NAMESPACE": "data-a",
           "FLOWYARD_HOME": str(tmp_path / "cli-home")}

    def fy(*args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return run_cli_bytes("--server", live.url, "data", *args, env=env, input=input)

    assert fy("repo", "create", "cli").returncode == 0
    (tmp_path / "f.txt").write_text("hello")
    put = fy("put", "cli@master:/f.txt", str(tmp_path / "f.txt"))
    assert put.returncode == 0, put.stderr.decode()
    stdin = fy("put", "cli@master:/in.txt", "-", input=b"from stdin")
    assert stdin.returncode == 0, stdin.stderr.decode()
    got = fy("get", "cli@master:/in.txt")
    assert got.stdout == b"from stdin"
    listed = fy("repo", "list", "-o", "json")
    assert b'"cli"' in listed.stdout and b'"data-a"' in listed.stdout
    missing = fy("get", "cli@master:/none.txt")
    assert missing.returncode != 0 and b"not found" in missing.stderr
    fsck = fy("fsck")
    assert fsck.returncode != 0 and b"platform host" in fsck.stderr
    # the embedded store never saw any of it
    local = run_cli_bytes("data", "repo", "list", "-o", "json",
                          env={k: v for k, v in env.items() if k != "FLOWYARD_SERVER"})
    assert b'"cli"' not in local.stdout
