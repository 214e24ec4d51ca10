"""The versioned-data API: repos, branches, atomic commits, put/get/ls/log/diff, provenance.

`DataStore(meta, objects, settings)` is the facade the CLI, the client and the engines use.
A write goes through a `CommitWriter` (an *open commit*): file content is chunked, deduplicated
and packed into blobs first; then one transaction inserts the commit and moves the branch
head (compare-and-swap on the old head). Until then nothing is visible; a writer killed half
way leaves the branch where it was and its staged packs are collected by `fsck`.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from flowyard.data.content import PACK_SIZE, FileEntry, PackReader
from flowyard.data.heads import BranchState, NativeReads, native_reads
from flowyard.data.records import ORIGINS, Branch, Commit, DiffEntry, FsckReport, LsEntry, Repo
from flowyard.data.refs import (
    BRANCH_RE,
    OWNER_KIND,
    PREFIX_RE,
    Target,
    check_repo_name,
    owned_repo,
    parse_branch,
    parse_target,
    suggest,
)
from flowyard.data.statcache import StatCache
from flowyard.data.tree import Tree, load_entries, read_tree
from flowyard.data.writer import CommitWriter, PutResult, paused_gc
from flowyard.errors import Conflict, InvalidInput, NotFound, StoreError

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from flowyard.data.catalog import Catalog
    from flowyard.data.lineage import RunRead
    from flowyard.settings import Settings
    from flowyard.store.metadata import MetadataStore
    from flowyard.store.objects import ObjectStore

Progress = Callable[[int, int], None]
"""progress(bytes_done, bytes_total) during a put or a get."""

GET_THREADS: Final = 4

@dataclass(slots=True)
class GetResult:
    commit: str
    files: int
    bytes: int
    dest: str


def _writer(origin: str, info: dict[str, Any] | None) -> str | None:
    """The owner a commit is written by: `DataPipeline/NAME` for a data pipeline's job."""
    name = (info or {}).get("pipeline") if origin == "data-pipeline" else None
    return f"{OWNER_KIND}/{name}" if isinstance(name, str) and name else None


def _check_destination(source: str, out: Path, jobs: list[tuple[FileEntry, Path]], *,
                       overwrite: bool) -> list[Path]:
    """The local folders a get writes into, once nothing local is in its way: a file where
    a folder must go, a folder where a file must go, or (without `overwrite`) a file that
    exists. Checked before anything is written: one stat per folder up to the first that
    exists, and one listing per existing folder, not a call per file."""
    by_folder: dict[Path, list[tuple[FileEntry, Path]]] = {}
    if len(jobs) != 1 or jobs[0][1] != out:  # a folder's files go under `out`
        by_folder[out] = []
    for job in jobs:
        by_folder.setdefault(job[1].parent, []).append(job)
    known: dict[Path, bool] = {}  # local path -> exists as a folder (absent paths: not here)

    def blocker(folder: Path) -> Path | None:
        """The local path that is not a folder where `folder` (or its parents) must be."""
        for p in (folder, *folder.parents):
            if p in known:
                return None if known[p] else p
            if os.path.lexists(p):
                known[p] = os.path.isdir(p)
                return None if known[p] else p
        return None

    existing: list[str] = []
    for folder, files in by_folder.items():
        blocked = blocker(folder)
        if blocked is not None:
            what = (f"{source!r} (a folder)" if folder == out and blocked == out
                    else f"{source!r}")
            raise Conflict(
                f"cannot get {what}: the local file {str(blocked)!r} is where a folder must go",
                hint=f"remove or rename {str(blocked)!r}, or get into another folder "
                     "(--overwrite replaces files, not a file with a folder)",
            )
        if not files or not known.get(folder, False):
            continue  # a folder the get makes: nothing is in it yet
        with os.scandir(folder) as it:
            there = {e.name: e.is_dir() for e in it}
        for e, path in files:
            is_dir = there.get(path.name)
            if is_dir:
                raise Conflict(
                    f"cannot get {source!r}: the local folder {str(path)!r} is where the file "
                    f"'/{e.path}' must go",
                    hint=f"remove or rename {str(path)!r}, or get into another folder "
                         "(--overwrite replaces files, not a folder with a file)",
                )
            if is_dir is not None and not overwrite:
                existing.append(str(path))
    if existing:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise Conflict(
            f"cannot get {source!r}: {existing[0]} already exists{more}",
            hint="get into an empty folder, or pass --overwrite",
        )
    return list(by_folder)


def _ref_text(t: Target) -> str:
    return f"{t.repo}@{t.ref or 'master'}"


class DataStore:
    """Versioned data on a MetadataStore (records) and an ObjectStore (bytes)."""

    def __init__(
        self,
        meta: MetadataStore,
        objects: ObjectStore,
        settings: Settings | None = None,
        *,
        pack_size: int = PACK_SIZE,
        owns_stores: bool = False,
    ) -> None:
        from flowyard.settings import Settings

        self.meta = meta
        self.objects = objects
        self.settings = settings or Settings()
        self._catalog: Catalog | None = None
        self.reads: NativeReads | None = native_reads(meta)
        self.pack_size = pack_size
        self._owns = owns_stores
        self._stat: StatCache | None = None

    @property
    def catalog(self) -> Catalog:
        # Made on first use: its SQLAlchemy import is a third of a no-change put's time.
        if self._catalog is None:
            from flowyard.data.catalog import Catalog

            self._catalog = Catalog(self.meta)
        return self._catalog

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> DataStore:
        from flowyard.settings import Settings
        from flowyard.store.metadata import MetadataStore
        from flowyard.store.objects import ObjectStore

        settings = settings or Settings()
        return cls(
            MetadataStore.from_settings(settings),
            ObjectStore.from_settings(settings),
            settings,
            owns_stores=True,
        )

    def close(self) -> None:
        if self._stat is not None:
            self._stat.close()
        if self._owns:
            self.meta.close()

    def __enter__(self) -> DataStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def stat_cache(self) -> StatCache:
        if self._stat is None:
            path = self.settings.home.expanduser() / "cache" / "data-stat.db"
            self._stat = StatCache(path, self.objects.url)
        return self._stat

    # -- repos and branches -----------------------------------------------------------------

    def create_repo(
        self,
        name: str,
        *,
        description: str = "",
        owner: str | None = None,
        namespace: str | None = None,
    ) -> Repo:
        """A new repo with an empty `master` branch, in `namespace` (default: settings')."""
        ns = self.settings.namespace if namespace is None else namespace
        return self.catalog.create_repo(check_repo_name(name), description, owner, ns)

    def list_repos(self, namespace: str | None = None) -> list[Repo]:
        """Every repo, or only those of `namespace`."""
        return self.catalog.list_repos(namespace)

    def get_repo(self, name: str) -> Repo:
        return self.catalog.get_repo(check_repo_name(name))

    def delete_repo(self, name: str, *, force: bool = False) -> None:
        """Delete a repo's records; its blobs are collected by `fsck(collect=True)`."""
        self.catalog.delete_repo(check_repo_name(name), force=force)

    def create_branch(self, target: str, *, start: str | None = None) -> Branch:
        """`repo@name`, starting at the commit `start` names (a ref in the same repo) or empty."""
        repo, name = parse_branch(target)
        head = None
        if start is not None:
            text = start if "@" in start else f"{repo}@{start}"
            st = parse_target(text)
            if st.repo != repo:
                raise InvalidInput(
                    f"branch {target!r} cannot start at {start!r}: it is in another repo",
                    hint=f"name a ref of repo '{repo}', e.g. master^",
                )
            head = self.resolve(st).id
        return self.catalog.create_branch(repo, name, head)

    def list_branches(self, repo: str) -> list[Branch]:
        return self.catalog.list_branches(parse_target(repo).repo)

    def delete_branch(self, target: str) -> None:
        self.catalog.delete_branch(*parse_branch(target))

    # -- refs -------------------------------------------------------------------------------

    def resolve(self, target: str | Target) -> Commit:
        """The finished commit a `repo@ref` names (ref defaults to master)."""
        tgt = parse_target(target) if isinstance(target, str) else target
        base = tgt.base or "master"
        cat = self.catalog
        with cat.tx() as conn:
            try:
                repo = cat.get_repo(tgt.repo, conn)
            except NotFound as exc:
                if tgt.ref is None and PREFIX_RE.fullmatch(tgt.repo):
                    raise self._commit_without_repo(conn, tgt, exc) from exc
                raise
            branch = cat.branch_row(conn, tgt.repo, base) if BRANCH_RE.fullmatch(base) else None
            if branch is not None:
                if branch.head is None:
                    owner = repo.owner.partition("/")[2] if repo.owner else None
                    raise NotFound(
                        f"branch '{base}' of repo '{tgt.repo}' has no commits yet",
                        hint=(f"it is the output of data pipeline '{owner}', which has not "
                              f"succeeded yet: see `flowyard data pipeline jobs {owner}`"
                              if owner else
                              f"put data first: flowyard data put {tgt.repo}@{base} LOCAL_PATH"),
                    )
                commit_id = branch.head
            elif PREFIX_RE.fullmatch(base):
                ids = cat.commits_by_prefix(conn, tgt.repo, base)
                if not ids:
                    raise NotFound(
                        f"no branch or commit '{base}' in repo '{tgt.repo}' ({tgt.text!r})",
                        hint="branches: " + suggest(base, repo.branches)
                        + f"; commits: flowyard data log {tgt.repo}@master",
                    )
                if len(ids) > 1:
                    raise InvalidInput(
                        f"commit prefix '{base}' in {tgt.text!r} is ambiguous: it matches "
                        + ", ".join(ids),
                        hint="give more digits of the commit id",
                    )
                commit_id = ids[0]
            else:
                error = cat.no_branch(conn, tgt.repo, base)
                if re.fullmatch(r"[0-9a-f]{1,3}", base):   # too short to be a commit prefix
                    error.hint = (f"{error.hint}; a commit prefix needs at least 4 hex digits"
                                  if error.hint else "a commit prefix needs at least 4 hex digits")
                raise error
            commit = cat.get_commit(conn, commit_id)
            if commit is None:
                raise StoreError(f"branch '{base}' points at missing commit {commit_id}")
            for step in range(tgt.generations):
                if not commit.parents:
                    raise NotFound(
                        f"{tgt.text!r} goes back {tgt.generations} generation(s), but commit "
                        f"{commit.id} ({step} back) has no parent",
                        hint=f"use a smaller number; see the history: flowyard data log "
                        f"{tgt.repo}@{base}",
                    )
                parent = cat.get_commit(conn, commit.parents[0])
                if parent is None:
                    raise StoreError(f"commit {commit.id} names missing parent {commit.parents[0]}")
                commit = parent
        return commit

    def _commit_without_repo(self, conn: Connection, tgt: Target, exc: NotFound) -> NotFound:
        """`inspect 3a33...`: a commit id given where the repo goes; says which repo has it."""
        found = self.catalog.repos_with_commit(conn, tgt.repo)
        rest = tgt.text[len(tgt.repo):]
        if len(found) == 1:
            repo, commit_id = found[0]
            where = f"commit {commit_id} is in repo '{repo}': write {repo}@{tgt.repo}{rest}"
        elif found:
            where = "commits of several repos start with it: " + ", ".join(
                f"{r}@{c}" for r, c in found)
        else:
            where = f"no repo has a commit {tgt.repo!r} either ({exc.hint})"
        return NotFound(
            f"repo '{tgt.repo}' not found ({tgt.text!r} looks like a commit id)",
            hint=f"a commit is named REPO@COMMIT; {where}",
        )

    def _tree(self, commit: Commit) -> Tree:
        if commit.tree is None:
            raise StoreError(f"commit {commit.id} has no tree")
        return read_tree(self.objects, commit.tree)

    def _entries(self, commit: Commit | None, prefix: str = "") -> dict[str, FileEntry]:
        if commit is None:
            return {}
        return load_entries(self.objects, self._tree(commit), prefix)

    # -- writing ----------------------------------------------------------------------------

    def open_commit(
        self,
        target: str,
        *,
        message: str = "",
        origin: str = "user",
        provenance: Sequence[str] = (),
        info: dict[str, Any] | None = None,
    ) -> CommitWriter:
        """An open commit on `repo@branch`; finish() (or leaving the `with`) publishes it."""
        tgt = parse_target(target)
        branch = tgt.base or "master"
        if tgt.generations or (tgt.ref and not BRANCH_RE.fullmatch(branch)):
            raise self._not_a_branch(tgt)
        if origin not in ORIGINS:
            raise InvalidInput(
                f"commit origin {origin!r} is not one of {', '.join(ORIGINS)}",
                hint="user puts are 'user'; engines pass 'pipeline' or 'data-pipeline'",
            )
        state = self.reads.branch(tgt.repo, branch) if self.reads is not None else None
        if state is None:
            state = self._branch_state(tgt, branch)
        if state.owner and state.owner != _writer(origin, info):
            # Only the owning data pipeline's jobs write there: not a user's put, not a
            # Pipeline step's outputsTo, not another data pipeline.
            raise owned_repo(
                tgt.repo, state.owner, "only it writes there",
                alt="write the step's output to a repo of its own (outputsTo)"
                if origin == "pipeline" else "put your data into an input repo",
            )
        sources = self._provenance_ids(provenance)
        return CommitWriter(
            self, tgt.repo, branch, state.head, origin=origin, message=message,
            provenance=sources, info=info or {}, prefix=tgt.path,
        )

    def _branch_state(self, tgt: Target, branch: str) -> BranchState:
        """The owner and head through the Catalog, which names what is missing."""
        with self.catalog.tx() as conn:
            repo = self.catalog.get_repo(tgt.repo, conn)
            row = self.catalog.branch_row(conn, tgt.repo, branch)
            if row is None:
                if PREFIX_RE.fullmatch(branch) and self.catalog.commits_by_prefix(
                    conn, tgt.repo, branch
                ):
                    raise self._not_a_branch(tgt)
                raise self.catalog.no_branch(conn, tgt.repo, branch)
        return BranchState(repo.owner, row.head)

    def _not_a_branch(self, tgt: Target) -> InvalidInput:
        return InvalidInput(
            f"cannot write to {tgt.text!r}: {tgt.ref!r} names a commit, and commits are "
            "immutable",
            hint=f"write to a branch, e.g. {tgt.repo}@master, or create one at that commit: "
            f"flowyard data branch create {tgt.repo}@NAME --head {tgt.ref}",
        )

    def _provenance_ids(self, refs: Sequence[str]) -> list[str]:
        out = []
        for ref in refs:
            if isinstance(ref, str) and "@" not in ref and len(ref) == 32:
                out.append(ref)  # a full commit id
            else:
                out.append(self.resolve(ref).id)
        return sorted(set(out))

    def put(
        self,
        target: str,
        sources: Sequence[str | Path],
        *,
        message: str = "",
        origin: str = "user",
        provenance: Sequence[str] = (),
        sync: bool = False,
        progress: Progress | None = None,
        stdin: Any = None,
        info: dict[str, Any] | None = None,
    ) -> PutResult:
        """Put files and folders (recursively; '-' is stdin) at `repo@branch[:/path]`.

        A folder's content goes under the path; a file goes to the path itself when it is the
        only source and the path does not end with '/', else under it. sync=True also
        removes files under the path that the sources do not have. Engines pass origin,
        provenance (refs or commit ids) and info (e.g. {"run": ..., "step": ...}).
        """
        if not sources:
            raise InvalidInput("put needs at least one local file or folder", hint="or '-'")
        with paused_gc(), self.open_commit(
            target, message=message, origin=origin, provenance=provenance, info=info
        ) as writer:
            writer.progress = progress
            tgt = parse_target(target)
            as_file = len(sources) == 1 and bool(tgt.path) and not target.endswith("/")
            if sync:
                writer.delete(tgt.path)
            plans = [writer.plan(src, tgt.path, as_file=as_file) for src in sources]
            writer.total = sum(plan.size for plan in plans)
            if len(plans) == 1 and Path(sources[0]).is_dir():
                writer.memo_key = (plans[0].root, f"{tgt.repo}@{writer.branch}:/{tgt.path}")
                writer.sync = sync
            for src, plan in zip(sources, plans, strict=True):
                if str(src) == "-":
                    data = (stdin or sys.stdin.buffer).read()
                    if not tgt.path or target.endswith("/"):
                        raise InvalidInput(
                            f"put from stdin into {target!r} needs a file path",
                            hint=f"name the file, e.g. {tgt.repo}@{tgt.base or 'master'}:/data.bin",
                        )
                    writer.put_bytes(tgt.path, data)
                else:
                    writer.put_planned(plan)
            return writer.finish()

    def put_bytes(self, target: str, data: bytes, **kw: Any) -> PutResult:
        """Put bytes as the file `repo@branch:/path`."""
        tgt = parse_target(target)
        if not tgt.path:
            raise InvalidInput(f"{target!r} names no file path", hint="write repo@branch:/file")
        with self.open_commit(target, **kw) as writer:
            writer.put_bytes(tgt.path, data)
            return writer.finish()

    # -- reading ----------------------------------------------------------------------------

    def _lookup(self, source: str | Target) -> tuple[Target, Commit, dict[str, FileEntry]]:
        tgt = parse_target(source) if isinstance(source, str) else source
        commit = self.resolve(tgt)
        entries = self._entries(commit, tgt.path)
        if tgt.path and not entries:
            raise self._no_path(tgt, commit)
        return tgt, commit, entries

    def _no_path(self, tgt: Target, commit: Commit) -> NotFound:
        parent = tgt.path.rsplit("/", 1)[0] if "/" in tgt.path else ""
        siblings = [e.path for e in self.ls(Target(tgt.repo, commit.id, parent, tgt.text))]
        return NotFound(
            f"path '/{tgt.path}' not found in {_ref_text(tgt)} (commit {commit.id})",
            hint=suggest("/" + tgt.path, siblings),
        )

    def get(
        self,
        source: str,
        dest: str | Path,
        *,
        overwrite: bool = False,
        progress: Progress | None = None,
    ) -> GetResult:
        """Write the file or folder `repo@ref:/path` at `dest` (a folder's files go under it)."""
        with paused_gc():
            return self._get(source, dest, overwrite=overwrite, progress=progress)

    def _get(
        self, source: str, dest: str | Path, *, overwrite: bool, progress: Progress | None
    ) -> GetResult:
        tgt, commit, entries = self._lookup(source)
        out = Path(dest)
        if tgt.path in entries and len(entries) == 1:
            e = entries[tgt.path]
            target = out / e.path.rsplit("/", 1)[-1] if out.is_dir() else out
            jobs = [(e, target)]
        else:
            cut = len(tgt.path) + 1 if tgt.path else 0
            jobs = [(e, out / e.path[cut:]) for e in entries.values()]
        for e, _ in jobs:
            if ".." in e.path.split("/") or e.path.startswith("/"):
                raise StoreError(
                    f"commit {commit.id} holds an unsafe path {e.path!r}; refusing to write it",
                    hint="run `flowyard data fsck`; the tree blob may be damaged",
                )
        total = sum(e.size for e, _ in jobs)
        flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
        jobs.sort(key=lambda j: j[0].parts[0][:2] if j[0].parts else ("", 0))
        folders = _check_destination(source, out, jobs, overwrite=overwrite)
        for folder in folders:  # nothing is in the way: make the folders, then write
            folder.mkdir(parents=True, exist_ok=True)
        done = [0]

        def write(chunk: list[tuple[FileEntry, Path]]) -> None:
            with PackReader(self.objects) as reader:
                for e, path in chunk:
                    try:
                        fd = os.open(path, flags, 0o644)
                    except FileExistsError as exc:
                        raise Conflict(
                            f"cannot get {source!r}: {path} already exists",
                            hint="get into an empty folder, or pass --overwrite",
                        ) from exc
                    try:
                        reader.copy_to(e.parts, fd)
                        if e.mode != 0o644:
                            os.fchmod(fd, e.mode)
                    finally:
                        os.close(fd)
                    done[0] += e.size
                    if progress is not None:
                        progress(done[0], total)

        if len(jobs) > 1000:
            step = (len(jobs) + GET_THREADS - 1) // GET_THREADS
            with ThreadPoolExecutor(GET_THREADS) as pool:
                slices = [jobs[i : i + step] for i in range(0, len(jobs), step)]
                futures = [pool.submit(write, s) for s in slices]
                for f in futures:
                    f.result()
        else:
            write(jobs)
        return GetResult(commit.id, len(jobs), total, str(out))

    def read_bytes(self, source: str) -> bytes:
        """The content of the file `repo@ref:/path`."""
        tgt, _, entries = self._lookup(source)
        if tgt.path not in entries:
            raise InvalidInput(
                f"{source!r} is a folder ({len(entries)} files), not a file",
                hint="name one file, or use get to write the folder to disk",
            )
        with PackReader(self.objects) as reader:
            return reader.read(entries[tgt.path].parts)

    def ls(self, source: str | Target, *, recursive: bool = False) -> list[LsEntry]:
        """Files and folders directly under `repo@ref:/path` (all files with recursive)."""
        tgt, _, entries = self._lookup(source)
        if tgt.path in entries:
            e = entries[tgt.path]
            return [LsEntry("/" + e.path, "file", e.size, 1, e.digest, e.mode)]
        cut = len(tgt.path) + 1 if tgt.path else 0
        out: dict[str, LsEntry] = {}
        for path in sorted(entries):
            e = entries[path]
            rest = path[cut:]
            if recursive or "/" not in rest:
                out[path] = LsEntry("/" + path, "file", e.size, 1, e.digest, e.mode)
                continue
            d = path[: cut + rest.index("/")]
            item = out.get(d)
            if item is None:
                out[d] = LsEntry("/" + d, "dir", e.size, 1)
            else:
                item.size += e.size
                item.files += 1
        return list(out.values())

    def log(self, source: str, *, limit: int | None = None) -> list[Commit]:
        """Commits from `repo@ref` back through first parents, newest first."""
        commit: Commit | None = self.resolve(source)
        out: list[Commit] = []
        with self.catalog.tx() as conn:
            while commit is not None and (limit is None or len(out) < limit):
                out.append(commit)
                commit = self.catalog.get_commit(conn, commit.parent) if commit.parent else None
        return out

    def inspect(self, source: str) -> Commit:
        return self.resolve(source)

    def diff(self, old: str, new: str) -> list[DiffEntry]:
        """Files added, removed and modified from `old` to `new` (optionally under a path)."""
        a, b = parse_target(old), parse_target(new)
        ca, cb = self.resolve(a), self.resolve(b)
        if ca.tree == cb.tree and a.path == b.path:
            return []
        ea, eb = self._entries(ca, a.path), self._entries(cb, b.path)
        ka = {p[len(a.path) + 1 :] if a.path else p: e for p, e in ea.items()}
        kb = {p[len(b.path) + 1 :] if b.path else p: e for p, e in eb.items()}
        out = []
        for p in sorted(ka.keys() | kb.keys()):
            x, y = ka.get(p), kb.get(p)
            if x is None and y is not None:
                out.append(DiffEntry("/" + p, "added", None, y.size))
            elif y is None and x is not None:
                out.append(DiffEntry("/" + p, "removed", x.size, None))
            elif x is not None and y is not None and not x.same_content(y):
                out.append(DiffEntry("/" + p, "modified", x.size, y.size))
        return out

    # -- provenance -------------------------------------------------------------------------

    def provenance(self, source: str, *, transitive: bool = True) -> list[Commit]:
        """The commits `source` was computed from (all the way up with transitive)."""
        return self._walk(self.resolve(source).id, up=True, transitive=transitive)

    def subvenance(self, source: str, *, transitive: bool = True) -> list[Commit]:
        """The commits computed from `source` (all the way down with transitive)."""
        return self._walk(self.resolve(source).id, up=False, transitive=transitive)

    def runs_reading(self, commits: Sequence[tuple[str, str]]) -> list[RunRead]:
        """The run steps that read any of the `(repo, commit id)` pairs (see lineage.py)."""
        from flowyard.data.lineage import runs_reading

        return runs_reading(self, commits)

    def _walk(self, start: str, *, up: bool, transitive: bool) -> list[Commit]:
        seen: dict[str, None] = {}
        frontier = [start]
        while frontier:
            nxt = []
            for ids in self.catalog.neighbours(frontier, up=up).values():
                for i in ids:
                    if i not in seen and i != start:
                        seen[i] = None
                        nxt.append(i)
            frontier = nxt if transitive else []
        return self.catalog.commits(seen)

    # -- maintenance ------------------------------------------------------------------------

    def fsck(
        self, *, collect: bool = False, grace: float = 3600.0, verify: bool = True
    ) -> FsckReport:
        from flowyard.data.fsck import run_fsck

        return run_fsck(self, collect=collect, grace=grace, verify=verify)
