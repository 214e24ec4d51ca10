"""Versioned data through a Flowyard platform: the `DataStore` methods, over HTTP.

`HttpTransport.data(namespace)` returns one; `Client(server=...).data` and
`flowyard --server URL data ...` use it in place of the embedded `DataStore`, so the same
calls work either way. Uploads and downloads stream (a file is sent from disk, a folder as
a tar built in a temporary file); the server publishes each put as one atomic commit.
"""

from __future__ import annotations

import shutil
import sys
import tarfile
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Final
from urllib.parse import quote

from flowyard.errors import Conflict, InvalidInput
from flowyard.platform.codec import decode_record

if TYPE_CHECKING:
    from flowyard.client.http import HttpTransport
    from flowyard.data.lineage import RunRead
    from flowyard.data.records import Branch, Commit, DiffEntry, LsEntry, Repo
    from flowyard.data.repo import GetResult
    from flowyard.data.writer import PutResult

Progress = Callable[[int, int], None]
PIECE: Final = 1 << 20
TRANSFER_TIMEOUT: Final = 3600.0


def _q(part: str) -> str:
    return quote(part, safe="")


class HttpData:
    """Data repos of one namespace (profile) on a platform."""

    def __init__(self, transport: HttpTransport, namespace: str,
                 on_close: Callable[[], None] | None = None) -> None:
        self.t = transport
        self.namespace = namespace
        self._on_close = on_close

    def close(self) -> None:
        """Runs `on_close` (the CLI closes its client); the transport is the caller's."""
        if self._on_close is not None:
            self._on_close()
            self._on_close = None

    def __enter__(self) -> HttpData:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ---------------------------------------------------------------------------
    def _base(self) -> str:
        return f"/api/v1alpha1/namespaces/{_q(self.namespace)}/data/repos"

    def _repo(self, repo: str) -> str:
        return f"{self._base()}/{_q(repo)}"

    @staticmethod
    def _split(text: str, *, need_ref: bool = False) -> tuple[str, dict[str, str]]:
        """(repo, query) for `repo@ref:/path`, parsed (and checked) on this side first."""
        from flowyard.data.refs import parse_target

        tgt = parse_target(text, need_ref=need_ref)
        params = {"ref": tgt.ref or "master"}
        if tgt.path:
            params["path"] = "/" + tgt.path
        return tgt.repo, params

    # -- repos and branches -----------------------------------------------------------------
    def create_repo(self, name: str, *, description: str = "", owner: str | None = None,
                    namespace: str | None = None) -> Repo:
        from flowyard.data.records import Repo

        if owner is not None:
            raise InvalidInput("repos owned by a pipeline are created by the platform",
                               hint="create the DataPipeline; its output repo follows")
        base = self._base() if namespace is None else HttpData(self.t, namespace)._base()
        return decode_record(Repo, self.t._json("POST", base, json={
            "name": name, "description": description}))

    def list_repos(self, namespace: str | None = None) -> list[Repo]:
        from flowyard.data.records import Repo

        base = self._base() if namespace is None else HttpData(self.t, namespace)._base()
        return [decode_record(Repo, r) for r in self.t._json("GET", base)["items"]]

    def get_repo(self, name: str) -> Repo:
        from flowyard.data.records import Repo

        return decode_record(Repo, self.t._json("GET", self._repo(name)))

    def delete_repo(self, name: str, *, force: bool = False) -> None:
        self.t._call("DELETE", self._repo(name), params={"force": str(force).lower()})

    def create_branch(self, target: str, *, start: str | None = None) -> Branch:
        from flowyard.data.records import Branch
        from flowyard.data.refs import parse_branch, parse_target

        repo, name = parse_branch(target)
        head = start
        if start is not None and "@" in start:
            other = parse_target(start)
            if other.repo != repo:
                raise InvalidInput(
                    f"branch {target!r} cannot start at {start!r}: it is in another repo",
                    hint=f"name a ref of repo '{repo}', e.g. master^")
            head = other.ref
        return decode_record(Branch, self.t._json(
            "POST", f"{self._repo(repo)}/branches", json={"name": name, "head": head}))

    def list_branches(self, repo: str) -> list[Branch]:
        from flowyard.data.records import Branch
        from flowyard.data.refs import parse_target

        name = parse_target(repo).repo
        page = self.t._json("GET", f"{self._repo(name)}/branches")
        return [decode_record(Branch, b) for b in page["items"]]

    def delete_branch(self, target: str) -> None:
        from flowyard.data.refs import parse_branch

        repo, name = parse_branch(target)
        self.t._call("DELETE", f"{self._repo(repo)}/branches/{_q(name)}")

    # -- commits ----------------------------------------------------------------------------
    def resolve(self, target: str) -> Commit:
        return self.inspect(target)

    def inspect(self, source: str) -> Commit:
        from flowyard.data.records import Commit

        repo, params = self._split(source)
        return decode_record(Commit, self.t._json(
            "GET", f"{self._repo(repo)}/commits/{_q(params['ref'])}"))

    def log(self, source: str, *, limit: int | None = None) -> list[Commit]:
        from flowyard.data.records import Commit

        repo, params = self._split(source)
        params.pop("path", None)
        query: dict[str, Any] = {**params, "limit": limit or 10_000}
        page = self.t._json("GET", f"{self._repo(repo)}/commits", params=query)
        return [decode_record(Commit, c) for c in page["items"]]

    def ls(self, source: str, *, recursive: bool = False) -> list[LsEntry]:
        from flowyard.data.records import LsEntry

        repo, params = self._split(source)
        page = self.t._json("GET", f"{self._repo(repo)}/files",
                            params={**params, "recursive": str(recursive).lower()})
        return [decode_record(LsEntry, e) for e in page["items"]]

    def diff(self, old: str, new: str) -> list[DiffEntry]:
        from flowyard.data.records import DiffEntry

        repo_a, a = self._split(old)
        repo_b, b = self._split(new)
        if repo_a != repo_b or a.get("path") != b.get("path"):
            raise InvalidInput(
                f"over a platform, diff compares two refs of one repo at one path; "
                f"got {old!r} and {new!r}",
                hint="e.g. flowyard data diff images@master^ images@master")
        params = {"old": a["ref"], "new": b["ref"], **({"path": a["path"]} if "path" in a
                                                          else {})}
        page = self.t._json("GET", f"{self._repo(repo_a)}/diff", params=params)
        return [decode_record(DiffEntry, d) for d in page["items"]]

    # -- lineage ----------------------------------------------------------------------------
    def lineage(self, source: str, *, direction: str = "both",
                transitive: bool = True) -> dict[str, Any]:
        """The `{root, nodes, edges}` graph the platform draws (see docs/platform.md)."""
        repo, params = self._split(source)
        params.pop("path", None)
        graph: dict[str, Any] = self.t._json(
            "GET", f"{self._repo(repo)}/lineage",
            params={**params, "direction": direction, "transitive": str(transitive).lower()})
        return graph

    def _commits(self, source: str, direction: str, transitive: bool) -> list[Commit]:
        from flowyard.data.records import Commit

        graph = self.lineage(source, direction=direction, transitive=transitive)
        return [decode_record(Commit, n["record"]) for n in graph["nodes"]
                if n["type"] == "commit" and n["id"] != graph["root"]]

    def provenance(self, source: str, *, transitive: bool = True) -> list[Commit]:
        return self._commits(source, "up", transitive)

    def subvenance(self, source: str, *, transitive: bool = True) -> list[Commit]:
        return self._commits(source, "down", transitive)

    def runs_reading(self, commits: Sequence[tuple[str, str]]) -> list[RunRead]:
        from flowyard.data.lineage import RunRead

        found: dict[tuple[str, str, str, str], RunRead] = {}
        for repo, commit in sorted(set(commits)):
            graph = self.lineage(f"{repo}@{commit}", direction="down", transitive=False)
            for e in graph["edges"]:
                if e["type"] == "read" and e["from"] == f"commit:{commit}":
                    read = RunRead(repo, commit, e.get("path", ""), e["to"][len("run:"):],
                                   e.get("step", ""), e.get("input", ""),
                                   e.get("artifact", ""))
                    found[(read.commit, read.run, read.step, read.input)] = read
        return list(found.values())

    # -- files ------------------------------------------------------------------------------
    def read_bytes(self, source: str) -> bytes:
        repo, params = self._split(source)
        return self.t._call("GET", f"{self._repo(repo)}/content", params=params,
                            timeout=TRANSFER_TIMEOUT).content

    def get(self, source: str, dest: str | Path, *, overwrite: bool = False,
            progress: Progress | None = None) -> GetResult:
        """Like `DataStore.get`: a file to `dest`, a folder's files under `dest`."""
        from flowyard.data.refs import parse_target
        from flowyard.data.repo import GetResult

        tgt = parse_target(source)
        entries = self.ls(source, recursive=True)
        total = sum(e.size for e in entries)
        out = Path(dest)
        single = len(entries) == 1 and entries[0].path == "/" + tgt.path and bool(tgt.path)
        if single and out.is_dir():  # as DataStore.get: a file into a folder keeps its name
            out = out / tgt.path.rsplit("/", 1)[-1]
        if not overwrite:
            clash = [out] if single else [out / e.path.lstrip("/")[len(tgt.path):].lstrip("/")
                                          for e in entries]
            existing = [p for p in clash if p.exists()]
            if existing:
                raise Conflict(f"{existing[0]} already exists",
                               hint="pass --overwrite to replace it, or choose another "
                                    "destination")
        repo, params = self._split(source)
        if not single:
            params["format"] = "tar"
        done = 0
        with tempfile.TemporaryDirectory(prefix="flowyard-get-") as tmp:
            spool = Path(tmp) / "body"
            with self.t.http.stream("GET", f"{self._repo(repo)}/content", params=params,
                                    timeout=TRANSFER_TIMEOUT) as answer:
                if answer.status_code >= 400:
                    answer.read()
                    self.t._raise(answer, f"GET {self._repo(repo)}/content")
                commit = answer.headers.get("x-flowyard-commit", "")
                with open(spool, "wb") as f:
                    for piece in answer.iter_bytes(PIECE):
                        f.write(piece)
                        done += len(piece)
                        if progress is not None and single:
                            progress(done, total)
            if single:
                out.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(spool, out)
            else:
                out.mkdir(parents=True, exist_ok=True)
                with tarfile.open(spool, mode="r:") as tar:
                    tar.extractall(out, filter="data")  # refuses absolute paths and '..'
                if progress is not None:
                    progress(total, total)
        return GetResult(commit, len(entries), total, str(out))

    def put(self, target: str, sources: Sequence[str | Path], *, message: str = "",
            origin: str = "user", provenance: Sequence[str] = (), sync: bool = False,
            progress: Progress | None = None, stdin: Any = None,
            info: dict[str, Any] | None = None) -> PutResult:
        """Like `DataStore.put`: one file as the path, folders (and several sources) under
        it, '-' from stdin; one commit on the server."""
        from flowyard.data.refs import parse_target

        if origin != "user" or provenance or info:
            raise InvalidInput("over a platform, puts are user commits",
                               hint="pipelines write through the platform's engines")
        if not sources:
            raise InvalidInput("put needs at least one local file or folder", hint="or '-'")
        tgt = parse_target(target)
        if tgt.generations:
            raise InvalidInput(f"cannot write to {target!r}: it names an ancestry, and "
                               "commits are immutable", hint="write to a branch")
        params = {"branch": tgt.ref or "master", "message": message,
                  "sync": str(sync).lower()}
        url = f"{self._repo(tgt.repo)}/content"
        as_file = len(sources) == 1 and bool(tgt.path) and not target.endswith("/")
        if len(sources) == 1 and str(sources[0]) == "-":
            if not tgt.path or target.endswith("/"):
                raise InvalidInput(
                    f"put from stdin into {target!r} needs a file path",
                    hint=f"name the file, e.g. {tgt.repo}@{tgt.base or 'master'}:/data.bin")
            stream = stdin or sys.stdin.buffer
            return self._upload(url, {**params, "path": "/" + tgt.path}, stream, None, None)
        for src in sources:
            if str(src) == "-":
                raise InvalidInput("'-' (stdin) cannot be mixed with other sources",
                                   hint="put stdin on its own")
            if not Path(src).exists():
                raise InvalidInput(f"{src} does not exist", hint="check the local path")
        if as_file and Path(sources[0]).is_file():
            size = Path(sources[0]).stat().st_size
            with open(sources[0], "rb") as f:
                return self._upload(url, {**params, "path": "/" + tgt.path}, f, size,
                                    progress)
        with tempfile.TemporaryDirectory(prefix="flowyard-put-") as tmp:
            tar_path = Path(tmp) / "put.tar"
            with tarfile.open(tar_path, mode="w") as tar:
                for src in sources:
                    p = Path(src)
                    if p.is_dir():
                        for child in sorted(p.iterdir()):
                            tar.add(child, arcname=child.name)
                    else:
                        tar.add(p, arcname=p.name)
            if tgt.path:
                params["path"] = "/" + tgt.path
            size = tar_path.stat().st_size
            with open(tar_path, "rb") as f:
                return self._upload(url, params, f, size, progress, tar=True)

    def put_bytes(self, target: str, data: bytes, **kw: Any) -> PutResult:
        import io

        return self.put(target, ["-"], stdin=io.BytesIO(data), **kw)

    def _upload(self, url: str, params: dict[str, str], stream: BinaryIO, size: int | None,
                progress: Progress | None, *, tar: bool = False) -> PutResult:
        from flowyard.data.records import Commit
        from flowyard.data.writer import PutResult

        def pieces() -> Iterator[bytes]:
            done = 0
            while piece := stream.read(PIECE):
                done += len(piece)
                if progress is not None and size:
                    progress(done, size)
                yield piece

        headers = {"Content-Type": "application/x-tar" if tar else "application/octet-stream"}
        if size is not None:
            headers["Content-Length"] = str(size)
        data = self.t._json("PUT", url, params=params, content=pieces(), headers=headers,
                            timeout=TRANSFER_TIMEOUT)
        commit = None
        if data.get("commit"):
            commit = decode_record(Commit, self.t._json(
                "GET", f"{url.rsplit('/', 1)[0]}/commits/{_q(data['commit'])}"))
        return PutResult(commit, bool(data["changed"]), data["files"], data["files_read"],
                         data["files_unchanged"], data["bytes_read"], data["bytes_stored"],
                         [""] * int(data.get("packs", 0)))

    def fsck(self, **_: Any) -> Any:
        raise InvalidInput("fsck checks the platform's stores and runs on the platform host",
                           hint="run `flowyard data fsck` there, without --server")

