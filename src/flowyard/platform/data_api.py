"""Versioned data over HTTP: repos, branches, commits, files, diff and lineage, per profile.

Every route lives under `/api/v1alpha1/namespaces/{namespace}/data/` and first checks the
caller's role in that profile, then that the repo belongs to it: a repo of another profile
answers 404 exactly as a missing one does, so its existence does not leak. Uploads are
spooled to disk in chunks and committed in one transaction (nothing is visible until the
whole body arrived); downloads are streamed chunk by chunk out of the packs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tarfile
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from flowyard.errors import InvalidInput, NotFound
from flowyard.platform.api import API, Api, blocking, guarded, query_bool, query_int
from flowyard.platform.codec import encode_record
from flowyard.platform.responses import JSONResponse

if TYPE_CHECKING:
    from flowyard.data.records import Commit
    from flowyard.data.repo import DataStore

READ_CHUNK: Final = 1 << 20
"""Bytes per piece of a streamed download (a chunk is split when bigger)."""
TAR_TYPES: Final = frozenset({"application/x-tar", "application/tar"})


def _jsonable(record: Any) -> dict[str, Any]:
    return encode_record(record)


class DataApi:
    """The data routes; `api` supplies the access checks shared with the other routes."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.p = api.p

    @property
    def ds(self) -> DataStore:
        return self.p.data.store

    # -- access -----------------------------------------------------------------------------
    async def repo_for(self, request: Request, need: str) -> tuple[str, str]:
        """(namespace, repo) once the caller may `need` the repo; 404 when it is elsewhere."""
        from flowyard.data.refs import check_repo_name

        ns = request.path_params["namespace"]
        repo = request.path_params["repo"]
        await self.api.allow(request, ns, need, f"data repo {repo!r}")
        check_repo_name(repo)
        owner = await blocking(self.ds.catalog.repo_namespace, repo)
        if owner != ns:
            raise NotFound(f"repo '{repo}' not found in namespace '{ns}'",
                           hint=f"list the namespace's repos: GET {API}/namespaces/{ns}"
                                "/data/repos")
        return ns, repo

    def target(self, request: Request, repo: str, *, ref_param: str = "ref",
               default: str | None = "master", with_path: bool = True) -> str:
        """`repo@ref[:/path]` from the query; bad refs and paths fail naming the parameter."""
        from flowyard.data.refs import normalize_path, split_ref

        ref = request.query_params.get(ref_param) or default
        text = repo
        if ref is not None:
            try:
                split_ref(ref)
            except InvalidInput as exc:
                raise InvalidInput(f"query parameter {ref_param}={ref!r}: {exc.message}",
                                   hint=exc.hint) from None
            text += f"@{ref}"
        path = request.query_params.get("path", "") if with_path else ""
        if path:
            try:
                clean = normalize_path(path)
            except InvalidInput as exc:
                raise InvalidInput(f"query parameter path={path!r}: {exc.message}",
                                   hint=exc.hint) from None
            text += f":/{clean}"
        return text

    # -- repos ------------------------------------------------------------------------------
    async def list_repos(self, request: Request) -> Response:
        ns = request.path_params["namespace"]
        await self.api.allow(request, ns, "view", "data repos")
        repos = await blocking(self.ds.list_repos, ns)
        return JSONResponse({"items": [_jsonable(r) for r in repos]})

    async def create_repo(self, request: Request) -> Response:
        from flowyard.platform.api import json_body

        ns = request.path_params["namespace"]
        await self.api.allow(request, ns, "edit", "data repos")
        body = await json_body(request)
        if not isinstance(body, dict) or not isinstance(body.get("name"), str):
            raise InvalidInput(f"POST {request.url.path} expects {{name, description}}, got "
                               f"{_describe(body)}", hint='e.g. {"name": "images"}')
        description = body.get("description") or ""
        if not isinstance(description, str):
            raise InvalidInput(f"field description={description!r} is not a string")
        repo = await blocking(self.ds.create_repo, body["name"], description=description,
                              namespace=ns)
        return JSONResponse(_jsonable(repo), status_code=201)

    async def get_repo(self, request: Request) -> Response:
        _, repo = await self.repo_for(request, "view")
        return JSONResponse(_jsonable(await blocking(self.ds.get_repo, repo)))

    async def delete_repo(self, request: Request) -> Response:
        ns, repo = await self.repo_for(request, "edit")
        await blocking(self.ds.delete_repo, repo, force=query_bool(request, "force"))
        return JSONResponse({"status": "deleted", "namespace": ns, "repo": repo})

    # -- branches ---------------------------------------------------------------------------
    async def list_branches(self, request: Request) -> Response:
        _, repo = await self.repo_for(request, "view")
        branches = await blocking(self.ds.list_branches, repo)
        return JSONResponse({"items": [_jsonable(b) for b in branches]})

    async def create_branch(self, request: Request) -> Response:
        from flowyard.data.refs import check_branch_name
        from flowyard.platform.api import json_body

        _, repo = await self.repo_for(request, "edit")
        body = await json_body(request)
        if not isinstance(body, dict) or not isinstance(body.get("name"), str):
            raise InvalidInput(f"POST {request.url.path} expects {{name, head}}, got "
                               f"{_describe(body)}", hint='e.g. {"name": "dev", '
                                                          '"head": "master"}')
        head = body.get("head")
        if head is not None and (not isinstance(head, str) or not head or "@" in head
                                 or ":" in head):
            raise InvalidInput(f"field head={head!r} is not a ref of repo '{repo}'",
                               hint="a branch, a commit id or e.g. master^")
        name = check_branch_name(body["name"], "field name: ")
        branch = await blocking(self.ds.create_branch, f"{repo}@{name}", start=head)
        return JSONResponse(_jsonable(branch), status_code=201)

    async def delete_branch(self, request: Request) -> Response:
        from flowyard.data.refs import check_branch_name

        _, repo = await self.repo_for(request, "edit")
        name = check_branch_name(request.path_params["branch"])
        await blocking(self.ds.delete_branch, f"{repo}@{name}")
        return JSONResponse({"status": "deleted", "repo": repo, "branch": name})

    # -- commits ----------------------------------------------------------------------------
    async def log(self, request: Request) -> Response:
        _, repo = await self.repo_for(request, "view")
        limit = query_int(request, "limit", 100, low=1, high=10_000)
        commits = await blocking(self.ds.log, self.target(request, repo, with_path=False),
                                 limit=limit)
        return JSONResponse({"items": [_jsonable(c) for c in commits]})

    async def inspect(self, request: Request) -> Response:
        from flowyard.data.refs import split_ref

        _, repo = await self.repo_for(request, "view")
        ref = request.path_params["ref"]
        try:
            split_ref(ref)
        except InvalidInput as exc:
            raise InvalidInput(f"commit ref {ref!r} in the URL: {exc.message}",
                               hint=exc.hint) from None
        commit = await blocking(self.ds.inspect, f"{repo}@{ref}")
        return JSONResponse(_jsonable(commit))

    # -- files ------------------------------------------------------------------------------
    async def ls(self, request: Request) -> Response:
        _, repo = await self.repo_for(request, "view")
        source = self.target(request, repo)
        entries = await blocking(self.ds.ls, source,
                                 recursive=query_bool(request, "recursive"))
        commit = await blocking(self.ds.resolve, source)
        return JSONResponse({"commit": commit.id, "items": [_jsonable(e) for e in entries]})

    async def download(self, request: Request) -> Response:
        """A file's bytes, streamed; a folder (or format=tar) as an uncompressed tar."""
        _, repo = await self.repo_for(request, "view")
        source = self.target(request, repo)
        fmt = request.query_params.get("format", "raw")
        if fmt not in ("raw", "tar"):
            raise InvalidInput(f"query parameter format={fmt!r} is not raw or tar",
                               hint="raw: one file's bytes; tar: a file or folder as a tar")
        entry, commit_id, folder = await blocking(self._file_entry, source)
        headers = {"X-Flowyard-Commit": commit_id}
        if entry is not None and fmt == "raw":
            headers["Content-Length"] = str(entry.size)
            return StreamingResponse(_iterate(self._file_pieces(entry.parts)),
                                     media_type="application/octet-stream", headers=headers)
        if fmt == "raw":
            raise InvalidInput(f"{source!r} is a folder ({folder} files), not a file",
                               hint="ask for format=tar to download the folder")
        tar = await blocking(self._tar, source)
        headers["Content-Length"] = str(tar.stat().st_size)
        return StreamingResponse(_iterate(_file_pieces_and_delete(tar)),
                                 media_type="application/x-tar", headers=headers)

    def _file_entry(self, source: str) -> tuple[Any, str, int]:
        """(the FileEntry when `source` is one file else None, commit id, files below)."""
        tgt, commit, entries = self.ds._lookup(source)
        return entries.get(tgt.path) if tgt.path else None, commit.id, len(entries)

    def _file_pieces(self, parts: Any) -> Iterator[bytes]:
        from flowyard.data.content import PackReader

        with PackReader(self.ds.objects) as reader:
            for pack, offset, length in parts:
                fd = reader.fd(pack)
                done = 0
                while done < length:
                    n = min(READ_CHUNK, length - done)
                    piece = os.pread(fd, n, offset + done)
                    if not piece:
                        raise OSError(f"pack {pack} is shorter than its index says")
                    done += len(piece)
                    yield piece

    def _tar(self, source: str) -> Path:
        """The file or folder as a tar in a temporary file (deleted once streamed)."""
        spool = Path(tempfile.mkdtemp(prefix="flowyard-data-", dir=self._tmp_root()))
        try:
            out = self.ds.get(source, spool / "tree")
            tar_path = spool.with_suffix(".tar")
            with tarfile.open(tar_path, mode="w") as tar:
                root = Path(out.dest)
                tar.add(root, arcname="." if root.is_dir() else root.name)
            return tar_path
        finally:
            shutil.rmtree(spool, ignore_errors=True)

    def _tmp_root(self) -> Path:
        root = self.p.settings.home.expanduser() / "tmp"
        root.mkdir(parents=True, exist_ok=True)
        return root

    async def upload(self, request: Request) -> Response:
        """PUT the body as one file at `path` on `branch`, or (Content-Type application/x-tar)
        a folder's files under `path`; one commit, published only once the body is whole."""
        _, repo = await self.repo_for(request, "edit")
        branch = request.query_params.get("branch") or "master"
        target = self.target(request, repo, ref_param="branch")
        if any(c in branch for c in "^~"):
            raise InvalidInput(f"query parameter branch={branch!r} names an ancestry, and "
                               "commits are immutable", hint="write to a branch, e.g. master")
        is_tar = request.headers.get("content-type", "").split(";")[0].strip() in TAR_TYPES
        if not is_tar and ":" not in target:
            raise InvalidInput("query parameter path is missing: the body is one file",
                               hint="name it, e.g. ?path=/train/x.csv; send a folder as "
                                    "Content-Type: application/x-tar")
        message = request.query_params.get("message", "")
        sync = query_bool(request, "sync")
        # Refuse a missing branch before the body travels, not after.
        await blocking(lambda: self.ds.open_commit(target).abort())
        spool = Path(tempfile.mkdtemp(prefix="flowyard-upload-", dir=self._tmp_root()))
        try:
            body = spool / "body"
            size = 0
            with open(body, "wb") as out:
                async for piece in request.stream():
                    size += len(piece)
                    await blocking(out.write, piece)
            result = await blocking(self._commit_upload, target, body, is_tar, message, sync)
        finally:
            await blocking(shutil.rmtree, spool, True)
        data = result.to_dict()
        data["uploaded"] = size
        return JSONResponse(data, status_code=201)

    def _commit_upload(self, target: str, body: Path, is_tar: bool, message: str,
                       sync: bool) -> Any:
        from flowyard.data.refs import parse_target

        tgt = parse_target(target)
        with self.ds.open_commit(target, message=message) as writer:
            if sync:
                writer.delete(tgt.path)
            if not is_tar:
                body.chmod(0o644)
                writer.put_file(tgt.path, body)
                return writer.finish()
            tree = body.parent / "tree"
            tree.mkdir()
            try:
                with tarfile.open(body, mode="r:") as tar:
                    tar.extractall(tree, filter="data")  # refuses absolute paths and '..'
            except (tarfile.TarError, OSError) as exc:
                raise InvalidInput(f"the uploaded tar cannot be read: {exc}",
                                   hint="send an uncompressed tar (tar -cf - FOLDER)") from exc
            body.unlink()
            writer.put_tree(tree, tgt.path)
            return writer.finish()

    # -- diff and lineage -------------------------------------------------------------------
    async def diff(self, request: Request) -> Response:
        _, repo = await self.repo_for(request, "view")
        if not request.query_params.get("old") or not request.query_params.get("new"):
            raise InvalidInput("query parameters old and new are both required",
                               hint="e.g. ?old=master^&new=master&path=/train")
        old = self.target(request, repo, ref_param="old")
        new = self.target(request, repo, ref_param="new")
        changes = await blocking(self.ds.diff, old, new)
        return JSONResponse({"items": [_jsonable(c) for c in changes]})

    async def lineage(self, request: Request) -> Response:
        ns, repo = await self.repo_for(request, "view")
        direction = request.query_params.get("direction", "both")
        if direction not in ("up", "down", "both"):
            raise InvalidInput(f"query parameter direction={direction!r} is not up, down or "
                               "both", hint="up: provenance; down: subvenance")
        transitive = request.query_params.get("transitive", "true").lower() not in (
            "0", "false", "no")
        graph = await blocking(self._graph, ns, self.target(request, repo, with_path=False),
                               direction, transitive)
        return JSONResponse(graph)

    def _graph(self, ns: str, source: str, direction: str, transitive: bool) -> dict[str, Any]:
        """{root, nodes, edges}: commits (and the runs that read or wrote them) around
        `source`; an edge goes from what was read to what was computed from it."""
        from flowyard.data.lineage import runs_reading

        ds = self.ds
        root = ds.resolve(source)
        commits: dict[str, Commit] = {root.id: root}
        if direction in ("up", "both"):
            commits.update((c.id, c) for c in ds.provenance(source, transitive=transitive))
        if direction in ("down", "both"):
            commits.update((c.id, c) for c in ds.subvenance(source, transitive=transitive))
        # Commits of repos in other profiles stay out, and so do the edges to them.
        spaces = {name: ds.catalog.repo_namespace(name) for name in {c.repo for c in
                                                                    commits.values()}}
        commits = {i: c for i, c in commits.items() if spaces.get(c.repo) == ns}
        nodes: list[dict[str, Any]] = []
        edges: list[dict[str, str]] = []
        for c in commits.values():
            nodes.append({"id": f"commit:{c.id}", "type": "commit", "commit": c.id,
                          "repo": c.repo, "branch": c.branch, "origin": c.origin,
                          "message": c.message, "files": c.files, "bytes": c.bytes,
                          "createdAt": _iso(c.created_at), "finishedAt": _iso(c.finished_at),
                          "root": c.id == root.id, "record": _jsonable(c)})
        for derived, sources in ds.catalog.neighbours(commits, up=True).items():
            for src in sources:
                if src in commits and derived in commits:
                    edges.append({"from": f"commit:{src}", "to": f"commit:{derived}",
                                  "type": "provenance"})
        runs: dict[str, dict[str, Any]] = {}

        def run_node(run_id: str) -> bool:
            if run_id not in runs:
                try:
                    record = ds.meta.get_run(run_id)
                except NotFound:
                    return False
                if record.namespace != ns:
                    return False
                runs[run_id] = {"id": f"run:{run_id}", "type": "run", "run": run_id,
                                "pipeline": record.pipeline_name, "state": record.state,
                                "createdAt": _iso(record.created_at)}
            return True

        for c in commits.values():
            writer = c.info.get("run") if isinstance(c.info, dict) else None
            if isinstance(writer, str) and run_node(writer):
                edges.append({"from": f"run:{writer}", "to": f"commit:{c.id}",
                              "type": "wrote", "step": str(c.info.get("step", ""))})
        seen: set[tuple[str, str, str]] = set()
        for read in runs_reading(ds, [(c.repo, c.id) for c in commits.values()]):
            if (read.commit, read.run, read.step) in seen or not run_node(read.run):
                continue
            seen.add((read.commit, read.run, read.step))
            edges.append({"from": f"commit:{read.commit}", "to": f"run:{read.run}",
                          "type": "read", "step": read.step, "path": read.path,
                          "input": read.input, "artifact": read.artifact})
        nodes.extend(runs.values())
        return {"root": f"commit:{root.id}", "nodes": nodes, "edges": edges}


def _iso(value: Any) -> str | None:
    return None if value is None else str(value.isoformat())


def _describe(body: Any) -> str:
    return type(body).__name__ if not isinstance(body, dict) else f"keys {sorted(body)}"


async def _iterate(pieces: Iterator[bytes]) -> AsyncIterator[bytes]:
    """Pull a blocking iterator on the thread pool, one piece at a time."""
    done = object()
    try:
        while True:
            piece = await blocking(next, pieces, done)
            if piece is done:
                return
            assert isinstance(piece, bytes)
            yield piece
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:
            await blocking(close)


def _file_pieces_and_delete(path: Path) -> Iterator[bytes]:
    try:
        with open(path, "rb") as f:
            while piece := f.read(READ_CHUNK):
                yield piece
    finally:
        with contextlib.suppress(OSError):
            path.unlink()


def data_routes(api: Api) -> list[Route]:
    """Registered before the generic `namespaces/{namespace}/{plural}` routes."""
    d = DataApi(api)
    g = guarded
    base = f"{API}/namespaces/{{namespace}}/data/repos"
    repo = f"{base}/{{repo}}"
    return [
        Route(base, g(d.list_repos), methods=["GET"]),
        Route(base, g(d.create_repo), methods=["POST"]),
        Route(repo, g(d.get_repo), methods=["GET"]),
        Route(repo, g(d.delete_repo), methods=["DELETE"]),
        Route(f"{repo}/branches", g(d.list_branches), methods=["GET"]),
        Route(f"{repo}/branches", g(d.create_branch), methods=["POST"]),
        Route(f"{repo}/branches/{{branch}}", g(d.delete_branch), methods=["DELETE"]),
        Route(f"{repo}/commits", g(d.log), methods=["GET"]),
        Route(f"{repo}/commits/{{ref}}", g(d.inspect), methods=["GET"]),
        Route(f"{repo}/files", g(d.ls), methods=["GET"]),
        Route(f"{repo}/content", g(d.download), methods=["GET"]),
        Route(f"{repo}/content", g(d.upload), methods=["PUT"]),
        Route(f"{repo}/diff", g(d.diff), methods=["GET"]),
        Route(f"{repo}/lineage", g(d.lineage), methods=["GET"]),
    ]
