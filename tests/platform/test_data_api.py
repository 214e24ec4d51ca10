"""Versioned data over the platform API: per-profile repos, files, commits, diff, lineage."""

from __future__ import annotations

import io
import tarfile
from typing import Any

import httpx
import pytest
from platform_helpers import API, Site

pytestmark = pytest.mark.anyio


def repos(ns: str) -> str:
    return f"{API}/namespaces/{ns}/data/repos"


async def two_users(site: Site) -> tuple[str, str]:
    return (await site.user("alice", profile="team-a"), await site.user("bob", profile="team-b"))


async def put(client: httpx.AsyncClient, ns: str, repo: str, path: str, data: bytes,
              branch: str = "master", **params: str) -> dict[str, Any]:
    answer = await client.put(f"{repos(ns)}/{repo}/content", content=data,
                              params={"branch": branch, "path": path, **params})
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def tar_of(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


async def test_repos_branches_files_and_commits_round_trip(site: Site) -> None:
    alice, _ = await two_users(site)
    async with site.client(alice) as a:
        made = await a.post(repos("team-a"), json={"name": "images", "description": "pics"})
        assert made.status_code == 201, made.text
        assert made.json()["namespace"] == "team-a"
        assert made.json()["branches"] == ["master"]
        first = await put(a, "team-a", "images", "/train/a.txt", b"alpha")
        second = await put(a, "team-a", "images", "/train/b.txt", b"beta", message="more")
        assert first["changed"] and second["changed"] and second["uploaded"] == 4
        files = (await a.get(f"{repos('team-a')}/images/files",
                             params={"path": "/train"})).json()
        assert files["commit"] == second["commit"]
        assert [(e["path"], e["type"], e["size"]) for e in files["items"]] == [
            ("/train/a.txt", "file", 5), ("/train/b.txt", "file", 4)]
        root = (await a.get(f"{repos('team-a')}/images/files")).json()["items"]
        assert [(e["path"], e["type"], e["files"]) for e in root] == [("/train", "dir", 2)]
        body = await a.get(f"{repos('team-a')}/images/content",
                           params={"ref": "master", "path": "/train/b.txt"})
        assert body.content == b"beta"
        assert body.headers["x-flowyard-commit"] == second["commit"]
        old = await a.get(f"{repos('team-a')}/images/content",
                          params={"ref": "master^", "path": "/train/b.txt"})
        assert old.status_code == 404 and "not found" in old.json()["error"]["message"]
        log = (await a.get(f"{repos('team-a')}/images/commits")).json()["items"]
        assert [c["id"] for c in log] == [second["commit"], first["commit"]]
        assert log[0]["message"] == "more"
        one = (await a.get(f"{repos('team-a')}/images/commits/{first['commit'][:8]}")).json()
        assert one["id"] == first["commit"] and one["files"] == 1
        diff = (await a.get(f"{repos('team-a')}/images/diff",
                            params={"old": "master^", "new": "master"})).json()["items"]
        assert diff == [{"path": "/train/b.txt", "change": "added", "old_size": None,
                         "new_size": 4}]

        branch = await a.post(f"{repos('team-a')}/images/branches",
                              json={"name": "dev", "head": "master^"})
        assert branch.status_code == 201 and branch.json()["head"] == first["commit"]
        names = [b["name"] for b in (await a.get(f"{repos('team-a')}/images/branches"))
                 .json()["items"]]
        assert names == ["dev", "master"]
        tar = tar_of({"x/1.bin": b"1" * 10, "x/2.bin": b"2" * 20})
        folder = await a.put(f"{repos('team-a')}/images/content", content=tar,
                             params={"branch": "dev", "path": "/more"},
                             headers={"Content-Type": "application/x-tar"})
        assert folder.status_code == 201, folder.text
        dev = (await a.get(f"{repos('team-a')}/images/files",
                           params={"ref": "dev", "recursive": "true"})).json()["items"]
        assert sorted(e["path"] for e in dev) == ["/more/x/1.bin", "/more/x/2.bin",
                                                  "/train/a.txt"]
        got = await a.get(f"{repos('team-a')}/images/content",
                          params={"ref": "dev", "path": "/more", "format": "tar"})
        with tarfile.open(fileobj=io.BytesIO(got.content)) as t:
            names = sorted(m.name for m in t.getmembers() if m.isfile())
        assert names == ["./x/1.bin", "./x/2.bin"]
        gone = await a.delete(f"{repos('team-a')}/images/branches/dev")
        assert gone.status_code == 200
        deleted = await a.delete(f"{repos('team-a')}/images")
        assert deleted.status_code == 200
        assert (await a.get(repos("team-a"))).json()["items"] == []


async def test_profiles_cannot_see_or_touch_each_others_repos(site: Site) -> None:
    alice, bob = await two_users(site)
    async with site.client(alice) as a, site.client(bob) as b:
        assert (await a.post(repos("team-a"), json={"name": "secret"})).status_code == 201
        await put(a, "team-a", "secret", "/s.txt", b"hidden")
        assert (await b.post(repos("team-b"), json={"name": "mine"})).status_code == 201
        # bob's own namespace lists only his repo
        assert [r["name"] for r in (await b.get(repos("team-b"))).json()["items"]] == ["mine"]
        # alice's profile is invisible to bob: 404, not 403
        for method, url, kw in [
            ("GET", repos("team-a"), {}),
            ("POST", repos("team-a"), {"json": {"name": "x"}}),
            ("GET", f"{repos('team-a')}/secret", {}),
            ("GET", f"{repos('team-a')}/secret/content", {"params": {"path": "/s.txt"}}),
            ("PUT", f"{repos('team-a')}/secret/content",
             {"params": {"path": "/s.txt"}, "content": b"overwrite"}),
            ("DELETE", f"{repos('team-a')}/secret", {}),
        ]:
            answer = await b.request(method, url, **kw)
            assert answer.status_code == 404, (method, url, answer.text)
        # and naming alice's repo through bob's own namespace is a plain "not found"
        for url in (f"{repos('team-b')}/secret", f"{repos('team-b')}/nope"):
            answer = await b.get(url)
            assert answer.status_code == 404
            assert "not found in namespace 'team-b'" in answer.json()["error"]["message"]
        lineage = await b.get(f"{repos('team-b')}/secret/lineage")
        assert lineage.status_code == 404
        # the name is platform-wide, but the answer does not say where it lives
        clash = await b.post(repos("team-b"), json={"name": "secret"})
        assert clash.status_code == 409
        assert "team-a" not in clash.text
        # alice's data is untouched
        body = await a.get(f"{repos('team-a')}/secret/content", params={"path": "/s.txt"})
        assert body.content == b"hidden"


async def test_viewers_read_but_do_not_write(site: Site) -> None:
    alice = await site.user("alice", profile="team-a")
    carol = await site.user("carol")
    async with site.client(site.admin) as admin:
        added = await admin.put(f"{API}/profiles/team-a/contributors/carol",
                                json={"role": "view"})
        assert added.status_code == 200, added.text
    async with site.client(alice) as a, site.client(carol) as c:
        await a.post(repos("team-a"), json={"name": "shared"})
        await put(a, "team-a", "shared", "/f.txt", b"x")
        assert (await c.get(f"{repos('team-a')}/shared/content",
                            params={"path": "/f.txt"})).content == b"x"
        denied = await c.put(f"{repos('team-a')}/shared/content", content=b"y",
                             params={"path": "/f.txt"})
        assert denied.status_code == 403


@pytest.mark.parametrize("path", ["/../etc/passwd", "a/../../b", "..", "/x\\..\\y",
                                  "/a\x00b"])
async def test_path_traversal_is_refused(site: Site, path: str) -> None:
    alice = await site.user("alice", profile="team-a")
    async with site.client(alice) as a:
        await a.post(repos("team-a"), json={"name": "r"})
        await put(a, "team-a", "r", "/ok.txt", b"ok")
        for method, kw in (("GET", {}), ("PUT", {"content": b"evil"})):
            answer = await a.request(method, f"{repos('team-a')}/r/content",
                                     params={"path": path}, **kw)
            assert answer.status_code == 400, answer.text
            assert "query parameter path=" in answer.json()["error"]["message"]
        log = (await a.get(f"{repos('team-a')}/r/commits")).json()["items"]
        assert len(log) == 1  # nothing was committed


async def test_tar_members_escaping_the_folder_are_refused(site: Site) -> None:
    alice = await site.user("alice", profile="team-a")
    async with site.client(alice) as a:
        await a.post(repos("team-a"), json={"name": "r"})
        evil = tar_of({"../../outside.txt": b"x"})
        answer = await a.put(f"{repos('team-a')}/r/content", content=evil,
                             headers={"Content-Type": "application/x-tar"})
        assert answer.status_code == 400, answer.text
        assert "tar" in answer.json()["error"]["message"]
        broken = await a.put(f"{repos('team-a')}/r/content", content=b"not a tar at all",
                             headers={"Content-Type": "application/x-tar"})
        assert broken.status_code == 400
        empty = await a.get(f"{repos('team-a')}/r/commits")
        assert empty.status_code == 404  # master still has no commits
        assert "has no commits yet" in empty.json()["error"]["message"]


async def test_bad_refs_and_requests_name_the_field(site: Site) -> None:
    alice = await site.user("alice", profile="team-a")
    async with site.client(alice) as a:
        bad_name = await a.post(repos("team-a"), json={"name": "no/slashes"})
        assert bad_name.status_code == 400
        assert "'no/slashes'" in bad_name.json()["error"]["message"]
        no_name = await a.post(repos("team-a"), json={"title": "x"})
        assert no_name.status_code == 400 and "name" in no_name.json()["error"]["message"]
        await a.post(repos("team-a"), json={"name": "r"})
        await put(a, "team-a", "r", "/f.txt", b"1")
        cases = [
            ({"ref": "master:/x"}, "query parameter ref='master:/x'"),
            ({"ref": "other@master"}, "query parameter ref='other@master'"),
            ({"ref": "nobranch"}, "branch 'nobranch' not found"),
            ({"ref": "master~5"}, "goes back 5 generation"),
        ]
        for params, message in cases:
            answer = await a.get(f"{repos('team-a')}/r/files", params=params)
            assert answer.status_code in (400, 404), answer.text
            assert message in answer.json()["error"]["message"], answer.text
        no_branch = await a.put(f"{repos('team-a')}/r/content", content=b"x",
                                params={"branch": "ghost", "path": "/f"})
        assert no_branch.status_code == 404
        assert "branch 'ghost' not found" in no_branch.json()["error"]["message"]
        no_path = await a.put(f"{repos('team-a')}/r/content", content=b"x")
        assert no_path.status_code == 400
        assert "path is missing" in no_path.json()["error"]["message"]
        folder = await a.get(f"{repos('team-a')}/r/content")
        assert folder.status_code == 400 and "format=tar" in folder.json()["error"]["hint"]
        diff = await a.get(f"{repos('team-a')}/r/diff", params={"old": "master"})
        assert diff.status_code == 400 and "old and new" in diff.json()["error"]["message"]
        direction = await a.get(f"{repos('team-a')}/r/lineage", params={"direction": "x"})
        assert direction.status_code == 400
        clash = await a.post(f"{repos('team-a')}/r/branches", json={"name": "master"})
        assert clash.status_code == 409


async def test_lineage_graph_has_nodes_and_edges(site: Site) -> None:
    alice = await site.user("alice", profile="team-a")
    app_platform = site.app.state.platform
    async with site.client(alice) as a:
        await a.post(repos("team-a"), json={"name": "raw"})
        await a.post(repos("team-a"), json={"name": "clean"})
        raw = await put(a, "team-a", "raw", "/in.csv", b"1,2\n")
        # a commit computed from raw (as an engine writes one), with provenance
        ds = app_platform.data.store
        ds.put_bytes("clean@master:/out.csv", b"3\n", origin="data-pipeline",
                     provenance=[raw["commit"]])
        graph = (await a.get(f"{repos('team-a')}/raw/lineage")).json()
        ids = {n["id"]: n for n in graph["nodes"]}
        assert graph["root"] == f"commit:{raw['commit']}"
        clean = [n for n in ids.values() if n["repo"] == "clean"]
        assert len(clean) == 1 and clean[0]["type"] == "commit"
        assert clean[0]["record"]["provenance"] == [raw["commit"]]
        assert graph["edges"] == [{"from": f"commit:{raw['commit']}", "to": clean[0]["id"],
                                   "type": "provenance"}]
        up = (await a.get(f"{repos('team-a')}/clean/lineage",
                          params={"direction": "up"})).json()
        assert {n["repo"] for n in up["nodes"]} == {"raw", "clean"}


async def test_a_large_upload_is_streamed_not_held_in_memory(site: Site) -> None:
    import tracemalloc

    alice = await site.user("alice", profile="team-a")
    size, piece = 96 << 20, 1 << 20

    async def body() -> Any:
        for i in range(size // piece):
            # The worst case for memory, every time: zeros give the content-defined chunker
            # no cut point, so every chunk is as big as chunks get (4 MiB), and the counter
            # keeps them distinct, so dedup cannot shrink the work. (Random bytes made it
            # only now and then, and the test flaky.)
            yield i.to_bytes(8, "big") + bytes(piece - 8)

    async with site.client(alice) as a:
        await a.post(repos("team-a"), json={"name": "big"})
        # Something earlier in the process may already trace (start() is then a no-op and
        # the peak would be that of the whole suite): count from a reset peak and a baseline.
        was_tracing = tracemalloc.is_tracing()
        tracemalloc.start()
        tracemalloc.reset_peak()
        baseline, _ = tracemalloc.get_traced_memory()
        try:
            answer = await a.put(f"{repos('team-a')}/big/content", content=body(),
                                 params={"path": "/blob.bin"}, timeout=600)
            _, peak = tracemalloc.get_traced_memory()
            peak -= baseline
        finally:
            if not was_tracing:
                tracemalloc.stop()
        assert answer.status_code == 201, answer.text
        assert answer.json()["uploaded"] == size
        print(f"upload of {size >> 20} MiB: peak traced memory {peak / (1 << 20):.1f} MiB")
        assert peak < size / 2
        files = (await a.get(f"{repos('team-a')}/big/files")).json()["items"]
        assert files[0]["size"] == size
        got = 0
        async with a.stream("GET", f"{repos('team-a')}/big/content",
                            params={"path": "/blob.bin"}) as download:
            async for chunk in download.aiter_bytes():
                got += len(chunk)
        assert got == size


async def test_a_data_pipeline_reads_and_writes_only_its_own_profile(site: Site) -> None:
    alice, bob = await two_users(site)

    def pipeline(name: str, repo: str) -> dict[str, Any]:
        return {"apiVersion": "flowyard.dev/v1alpha1", "kind": "DataPipeline",
                "metadata": {"name": name},
                "spec": {"input": {"pfs": {"repo": repo, "glob": "/*"}},
                         "transform": {"cmd": ["true"]}}}

    async with site.client(alice) as a, site.client(bob) as b:
        await a.post(repos("team-a"), json={"name": "secret"})
        await b.post(repos("team-b"), json={"name": "open"})
        steal = await b.put(f"{API}/namespaces/team-b/datapipelines/steal",
                            json=pipeline("steal", "secret"))
        assert steal.status_code == 404, steal.text
        assert "input repo 'secret' not found" in steal.json()["error"]["message"]
        ok = await b.put(f"{API}/namespaces/team-b/datapipelines/copy",
                         json=pipeline("copy", "open"))
        assert ok.status_code == 201, ok.text
        # its output repo is created in bob's profile, where bob sees it
        names = [r["name"] for r in (await b.get(repos("team-b"))).json()["items"]]
        assert names == ["copy", "open"]
        assert [r["name"] for r in (await a.get(repos("team-a"))).json()["items"]] == [
            "secret"]


COPY_PIPELINE = {"apiVersion": "flowyard.dev/v1alpha1", "kind": "DataPipeline",
                 "metadata": {"name": "copy"},
                 "spec": {"input": {"pfs": {"repo": "raw", "glob": "/*"}},
                          "transform": {"cmd": ["true"]}}}


async def test_reapplying_a_data_pipeline_keeps_the_status_its_controller_wrote(
        site: Site) -> None:
    # DataPipelines are checked by creating them in the data layer before the platform
    # stores them: the apply must still merge over what was stored before that check.
    from flowyard.settings import Settings
    from flowyard.store.metadata import MetadataStore

    alice = await site.user("alice", profile="team-a")
    body = COPY_PIPELINE
    url = f"{API}/namespaces/team-a/datapipelines/copy"
    async with site.client(alice) as a:
        await a.post(repos("team-a"), json={"name": "raw"})
        first = await a.put(url, json=body)
        assert first.status_code == 201, first.text
        meta = MetadataStore.from_settings(Settings())
        try:  # what the controller does after a job
            stored = meta.get_resource("DataPipeline", "team-a", "copy")
            stored["status"] = {"state": "Succeeded", "inputs": {"raw": "c0ffee"}}
            meta.put_resource("DataPipeline", "team-a", "copy", stored)
        finally:
            meta.close()
        again = await a.put(url, json=body)
        assert again.status_code == 200, again.text
        assert again.json()["status"] == {"state": "Succeeded", "inputs": {"raw": "c0ffee"}}
        assert again.json()["metadata"]["creationTimestamp"] == \
            first.json()["metadata"]["creationTimestamp"]


async def test_a_data_pipelines_output_repo_is_freed_when_the_pipeline_is_deleted(
        site: Site) -> None:
    alice = await site.user("alice", profile="team-a")
    body = COPY_PIPELINE
    async with site.client(alice) as a:
        await a.post(repos("team-a"), json={"name": "raw"})
        made = await a.put(f"{API}/namespaces/team-a/datapipelines/copy", json=body)
        assert made.status_code == 201, made.text
        refused = await a.delete(f"{repos('team-a')}/copy")
        assert refused.status_code == 409, refused.text
        assert "output of DataPipeline/copy" in refused.json()["error"]["message"]
        gone = await a.delete(f"{API}/namespaces/team-a/datapipelines/copy")
        assert gone.status_code == 200, gone.text
        deleted = await a.delete(f"{repos('team-a')}/copy")
        assert deleted.status_code == 200, deleted.text
