"""An open commit: files are read, chunked, deduplicated and packed, then published at once.

`CommitWriter` is what `DataStore.put` and `DataStore.open_commit` hand out. Staging writes
only blobs (and, before each pack, a note on the open commit row); `finish()` publishes the
commit in one transaction (see `Catalog.finish_commit`), or reports that nothing changed.
"""

from __future__ import annotations

import bisect
import contextlib
import gc
import itertools
import operator
import os
import stat as stat_mod
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

import blake3

from flowyard.data import packindex
from flowyard.data.content import (
    PREFIX,
    SMALL_FILE,
    FileEntry,
    PackWriter,
    Part,
    PendingPack,
    ReadFile,
    digest_of,
    make_entries,
    read_file,
    read_rest,
    split_bytes,
    stream_chunks,
    temp_folder,
)
from flowyard.data.records import Commit
from flowyard.data.refs import normalize_path
from flowyard.data.statcache import CachedRow, Memo, StatKey, StatRows, stat_key
from flowyard.data.tree import TreeView, write_delta, write_tree
from flowyard.errors import Conflict, InvalidInput

if TYPE_CHECKING:
    from flowyard.data.repo import DataStore, Progress

BATCH_BYTES: Final = 16 << 20
BATCH_FILES: Final = 4096
READ_THREADS: Final = 4
"""Reader threads for files that come from the disk (files in the page cache: one)."""
READ_GROUP: Final = 256
WAITED_PER_FILE: Final = 30e-6
"""Seconds per file above which a read group counts as waiting for the disk (a file in the
page cache takes about 10 us)."""
STAT_GROUP: Final = 2048
STAT_THREADS: Final = 2
"""Stat calls are short: two threads overlap them on two cores; more only contend for the GIL."""
STREAM_CHUNKS: Final = 32
STREAM_BYTES: Final = 16 << 20
"""A big file's chunks are looked up and stored STREAM_CHUNKS at a time (one index query for
many), or sooner once they hold STREAM_BYTES: content-defined chunks reach CDC_MAX (4 MiB)
where the data offers no cut point, and 32 of those would hold 128 MiB of the file."""


@dataclass(slots=True)
class PutResult:
    commit: Commit | None
    changed: bool
    files: int = 0
    files_read: int = 0
    files_unchanged: int = 0
    bytes_read: int = 0
    bytes_stored: int = 0
    packs: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "commit": self.commit.id if self.commit else None,
            "changed": self.changed,
            "files": self.files,
            "files_read": self.files_read,
            "files_unchanged": self.files_unchanged,
            "bytes_read": self.bytes_read,
            "bytes_stored": self.bytes_stored,
            "packs": len(self.packs),
        }


@dataclass(slots=True)
class _Plan:
    """The files a local source puts, as columns (a first put plans 100,000 files): local
    paths, repo paths, and their stats unless nothing is cached under `root` (then there is
    nothing to compare them with, and the readers fstat each file anyway)."""

    root: str
    locals: list[str]
    paths: list[str]
    keys: list[StatKey] | None = None
    modes: list[int] | None = None
    prefix: str = ""
    """The repo path the folder goes to."""

    @property
    def size(self) -> int:
        return sum(map(_size_of, self.keys)) if self.keys else 0


class _Group:
    """Small files read on a reader thread, as columns: one object per group of files, not
    one per file, so the main thread packs and records a group in a few C-level calls."""

    __slots__ = ("big", "cold", "cpu", "datas", "digests", "keys", "locals", "modes", "paths",
                 "probed", "runs", "sizes", "wall")

    def __init__(self, locals_: list[str], paths: list[str]) -> None:
        self.locals = locals_
        self.paths = paths
        self.datas: list[bytes] = []
        self.digests: list[str] = []
        """Content digests ('blake3:<hex>'), also the digests of the files' single chunks."""
        self.sizes: list[int] = []
        self.modes: list[int] = []
        self.keys: list[StatKey] = []
        self.big: list[tuple[str, str]] = []
        """(local, repo path) of files found too big for one chunk: streamed instead."""
        self.wall = self.cpu = 0.0
        """Seconds the reader took for the group, and of them on a CPU."""
        self.probed = self.cold = 0
        """Files asked whether they were in the page cache (RWF_NOWAIT), and those not."""
        self.runs: list[tuple[PendingPack, list[int]]] | None = None
        """Once packed: the packs the files went to, with their offsets, in file order (None
        when some were stored already: their locations are looked up one by one)."""

    def waited(self) -> bool:
        """Whether reading the group was much waiting for the disk: half of the files probed
        were not in the page cache. Without probes (a file system without RWF_NOWAIT), when
        it took half as long again as it was on a CPU (from the page cache, 1.0-1.1 times),
        and longer than page-cache reads take; on a busy machine that also counts waiting
        for a CPU or the GIL, which made a put of cached files read on four threads, with
        half as much CPU again."""
        if self.probed:
            return self.cold * 2 >= self.probed
        return self.wall > 1.5 * self.cpu and self.wall > WAITED_PER_FILE * len(self.locals)


_Item = tuple[str, ReadFile, int, str | None, StatKey | None]
"""One file read on its own: (repo path, content, mode, local path, stat key)."""
_Old = tuple[int, int, str]
"""What the base holds at a path: (size, mode, content digest)."""


@dataclass(slots=True)
class _Hits:
    """A folder's stat-cache hits, as columns, and what the snapshot they came from says of
    the files that missed: enough to take the hits as the head's own entries, unread and
    unlooked-up, once the memo proves the snapshot is what the head was written from."""

    root: str
    prefix: str
    snapshot: StatRows
    plan_locals: list[str]
    paths: list[str]
    locals: list[str]
    rows: tuple[list[StatKey], list[int], list[str], list[tuple[Part, ...]]]
    missed: dict[str, _Old]
    """repo path -> the snapshot's (size, mode, digest) for files read again."""
    miss_at: dict[str, int]
    """local path -> row of the snapshot, for files read again, when the snapshot lists
    the planned files in the plan's order (its changed rows can then be saved as a patch)."""


@dataclass(slots=True)
class _Delta:
    """A commit's changes against its base tree."""

    changed: dict[str, FileEntry]
    removed: dict[str, _Old]
    new: list[str]
    """Paths the base did not hold (their folders are checked for clashes)."""
    files: int
    bytes: int


class CommitWriter:
    """An open commit: stage files, then finish() publishes them atomically."""

    def __init__(
        self,
        ds: DataStore,
        repo: str,
        branch: str,
        head: str | None,
        *,
        origin: str,
        message: str,
        provenance: list[str],
        info: dict[str, Any],
        prefix: str = "",
    ) -> None:
        self.ds = ds
        self.repo = repo
        self.branch = branch
        self.base_head = head
        self.origin = origin
        self.message = message
        self.provenance = provenance
        self.info = info
        self.prefix = prefix
        self.id = uuid.uuid4().hex
        self.progress: Progress | None = None
        self.total = 0
        self._done = 0
        self._row = False
        self._finished = False
        self._puts: dict[str, FileEntry] = {}
        self._deletes: list[str] = []
        # Read, not yet packed (_batch) and packed (_resolved), in the order they were read.
        self._batch: list[_Item | _Group] = []
        self._batch_bytes = 0
        self._batch_files = 0
        self._resolved: list[_Item | _Group] = []
        self._stat_rows = StatRows()
        self._roots: list[str] = []
        """The local folders (and files) planned: the stat cache keeps a snapshot of each."""
        self._cached: dict[str, tuple[str, CachedRow]] = {}
        """repo path -> (local path, cached row) of the files the stat cache vouches for,
        made from _hit_groups when a delete or the base tree must look at them one by one."""
        self.memo_key: tuple[str, str] | None = None
        self.sync = False
        self._plan_paths: list[str] = []
        self._hit_groups: list[_Hits] = []
        """Stat-cache hits of the folders planned, as columns (_cached once looked at)."""
        self._vouched: _Hits | None = None
        """The hits taken as the head's entries (finish), until the head moves."""
        self._saved_snapshot: str | None = None
        self._gone: dict[str, _Old] = {}
        """Files a vouched sync put removes (the snapshot's files no longer there)."""
        self._started_ns = time.time_ns()
        temp = temp_folder(ds.objects, ds.settings.home.expanduser() / "cache" / "data-tmp")
        self._index: packindex.ChunkIndex | None = None
        self._legacy_rows = False
        self.writer = PackWriter(
            ds.objects, temp, pack_size=ds.pack_size, before_write=self._stage
        )
        self.result = PutResult(None, False)

    # -- staging ----------------------------------------------------------------------------

    def _stage(self, digests: Sequence[str]) -> None:
        if not self._row:
            self.ds.catalog.insert_open_commit(
                self.id, self.repo, self.branch, self.origin, self.message, self.info
            )
            self._row = True
        self.ds.catalog.stage_blob(self.id, digests)

    def _stored_chunks(self) -> bool:
        """Whether the store holds any chunk a lookup could find (not so in a new store)."""
        if self._index is None:
            # Loaded once per open commit: packs other writers register meanwhile are not
            # searched (their chunks are then stored twice, never lost).
            cat = self.ds.catalog
            self._index = packindex.load(self.ds.objects, cat.blobs_of_kind(packindex.KIND))
            self._legacy_rows = cat.has_chunk_rows()
        return bool(len(self._index)) or self._legacy_rows

    def _lookup(self, digests: list[str]) -> Iterable[tuple[str, str, int, int]]:
        """(digest, pack, offset, length) of the chunks among `digests` stored already."""
        if not digests or not self._stored_chunks():
            return ()
        assert self._index is not None
        found = list(self._index.lookup(digests))
        if self._legacy_rows:  # stores written before pack index objects
            seen = {f[0] for f in found}
            found += self.ds.catalog.lookup_chunks([d for d in digests if d not in seen])
        return found

    def _tick(self, size: int) -> None:
        self._done += size
        if self.progress is not None:
            self.progress(self._done, self.total)

    def plan(self, src: str | Path, prefix: str, *, as_file: bool) -> _Plan:
        """The files a local source puts, with their repo paths and stats (no reading yet)."""
        if str(src) == "-":
            return _Plan("", [], [])
        path = Path(src)
        if not path.exists():
            raise InvalidInput(
                f"local path {str(src)!r} does not exist", hint="check the path and try again"
            )
        root = str(path.absolute())
        if path.is_file():
            name = prefix if as_file else "/".join(p for p in (prefix, path.name) if p)
            st = os.stat(root)
            return _Plan(root, [root], [normalize_path(name)], [stat_key(st)],
                         [st.st_mode & 0o7777])
        if not path.is_dir():
            raise InvalidInput(f"local path {str(src)!r} is neither a file nor a folder")
        locals_: list[str] = []
        paths: list[str] = []
        # Nothing cached under this folder (a first put): no stat to compare, so skip the
        # 100,000 stat calls; the readers fstat each file anyway (sizes unknown until then).
        cached = self.ds.stat_cache.has_rows(root)
        found: list[os.DirEntry[str]] = []
        # Each folder with its place on the current path (for loops through links) and the
        # link it was reached through ("" when none).
        stack: list[tuple[str, str, _Folder, str]] = [(root, prefix, _Folder(root, None), "")]
        while stack:
            folder, base, here, link = stack.pop()
            with os.scandir(folder) as it:
                entries = sorted(it, key=_name)
            head = f"{base}/" if base else ""
            # Without following links, is_dir()/is_file() answer from the entry's d_type (no
            # stat call). Links, sockets and devices are the rest: only when there are some
            # (or below a followed link) does the folder take the slower way.
            dirs = [e for e in entries if e.is_dir(follow_symlinks=False)]
            files = [e for e in entries if e.is_file(follow_symlinks=False)]
            if link or len(dirs) + len(files) < len(entries):
                subs, files = _follow_links(entries, dirs, files, here, link, str(src), root)
                stack += [(e.path, head + e.name, node, via) for e, node, via in subs]
            else:
                stack += [(e.path, head + e.name, _Folder(e.path, here), "") for e in dirs]
            if cached:
                found += files
            locals_ += [e.path for e in files]
            paths += [head + e.name for e in files]
        if not cached:
            return _Plan(root, locals_, paths, prefix=prefix)
        keys, modes, gone = _stat_all(found)
        if gone:  # removed meanwhile: plan the files still there
            kept = [i for i in range(len(locals_)) if i not in gone]
            locals_ = [locals_[i] for i in kept]
            paths = [paths[i] for i in kept]
        return _Plan(root, locals_, paths, keys, modes, prefix)

    def put_planned(self, plan: _Plan) -> None:
        if not plan.locals:
            return
        self._plan_paths += plan.paths
        self._roots.append(plan.root)
        if plan.keys is None or plan.modes is None:  # nothing cached: every file is read
            self._read_many(plan.locals, plan.paths, [])
            return
        snap = self.ds.stat_cache.load(plan.root)
        if not len(snap):  # e.g. a damaged snapshot
            self._read_many(plan.locals, plan.paths, list(map(_size_of, plan.keys)))
            return
        count = len(plan.locals)
        hits: Sequence[int]
        where: Sequence[int]
        at: dict[str, int] | None = None
        if snap.locals == plan.locals:  # the snapshot of the last put of this very folder
            if snap.keys == plan.keys and snap.modes == plan.modes:
                hits = where = range(count)  # nothing changed: three list compares, in C
            else:
                hits = where = [i for i in range(count) if snap.keys[i] == plan.keys[i]
                                and snap.modes[i] == plan.modes[i]]
        else:
            at = dict(zip(snap.locals, itertools.count()))
            found: list[int] = []
            places: list[int] = []
            for i, (local, key, mode) in enumerate(
                    zip(plan.locals, plan.keys, plan.modes, strict=True)):
                j = at.get(local)
                if j is not None and snap.keys[j] == key and snap.modes[j] == mode:
                    found.append(i)
                    places.append(j)
            hits, where = found, places
        if len(hits) == count:
            paths, locals_, misses = plan.paths, plan.locals, []
        else:
            paths = [plan.paths[i] for i in hits]
            locals_ = [plan.locals[i] for i in hits]
            hit = set(hits)
            misses = [i for i in range(count) if i not in hit]
        if isinstance(where, range) and len(where) == len(snap.locals):
            keys, modes, digests, parts = snap.keys, snap.modes, snap.digests, snap.parts
        else:
            keys = [snap.keys[j] for j in where]
            modes = [snap.modes[j] for j in where]
            digests = [snap.digests[j] for j in where]
            parts = [snap.parts[j] for j in where]
        missed: dict[str, _Old] = {}
        miss_at: dict[str, int] = {}
        if snap.source is not None:
            if at is None:  # the snapshot is in the plan's order
                miss_at = {plan.locals[i]: i for i in misses}
            for i in misses:
                j = i if at is None else at.get(plan.locals[i])
                if j is not None:
                    missed[plan.paths[i]] = (snap.keys[j][0], snap.modes[j],
                                             PREFIX + snap.digests[j])
        # Made entries in finish() only when they differ from the base tree's (or not at
        # all, when the memo vouches for them).
        self._hit_groups.append(_Hits(plan.root, plan.prefix, snap, plan.locals, paths, locals_,
                                      (keys, modes, digests, parts), missed, miss_at))
        self._tick(sum(map(_size_of, keys)))
        self._read_many([plan.locals[i] for i in misses], [plan.paths[i] for i in misses],
                        [plan.keys[i][0] for i in misses])

    def put_file(self, repo_path: str, local: str | Path) -> None:
        """Stage one local file as `repo_path` (relative to the repo root)."""
        self._read(str(Path(local).absolute()), normalize_path(repo_path))

    def put_tree(self, local: str | Path, prefix: str = "") -> None:
        """Stage every file under a local folder, under `prefix` in the repo."""
        self.put_planned(self.plan(local, normalize_path(prefix), as_file=False))

    def put_entry(self, entry: FileEntry) -> None:
        """Stage a file entry taken from a finished commit (its bytes are stored already)."""
        self._puts[normalize_path(entry.path)] = entry

    def put_bytes(self, repo_path: str, data: bytes, mode: int = 0o644) -> None:
        path = normalize_path(repo_path)
        if not path:
            raise InvalidInput("put_bytes needs a file path, not the repo root")
        self._add(path, split_bytes(data), mode, None, None)

    def delete(self, repo_path: str) -> None:
        """Remove the file or folder `repo_path` ('' = everything) in this commit."""
        path = normalize_path(repo_path)
        self._deletes.append(path)
        if self._batch or self._resolved:
            # Files put earlier in this commit may be in the way: they get their entries now
            # (closing the pack being filled), so that the delete can take them out again.
            self._settle_entries()
        for p in [p for p in self._puts if _under(p, path)]:
            del self._puts[p]
        self._materialize_hits()
        for p in [p for p in self._cached if _under(p, path)]:
            del self._cached[p]

    def _materialize_hits(self) -> None:
        for hits in self._hit_groups:
            keys, modes, digests, parts = hits.rows
            self._cached.update(zip(hits.paths, zip(hits.locals, zip(
                keys, modes, digests, parts, strict=True), strict=True), strict=True))
        self._hit_groups = []

    @property
    def _hits(self) -> _Hits | None:
        """The hits of the one folder this put planned, unless they were looked at."""
        if len(self._roots) != 1 or len(self._hit_groups) != 1 or self._cached:
            return None
        return self._hit_groups[0]

    def _read_many(self, locals_: list[str], paths: list[str], sizes: list[int]) -> None:
        """Read small files on a few threads (the kernel overlaps the I/O), in order; stream
        big ones. `sizes` are the files' sizes when they are known (else [])."""
        if sizes and max(sizes) >= SMALL_FILE:
            small = [i for i, size in enumerate(sizes) if size < SMALL_FILE]
            for local, path, size in zip(locals_, paths, sizes, strict=True):
                if size >= SMALL_FILE:
                    self._read(local, path)
            locals_ = [locals_[i] for i in small]
            paths = [paths[i] for i in small]
        if len(locals_) < 64:
            for local, repo_path in zip(locals_, paths, strict=True):
                self._read(local, repo_path)
            return
        # Files in the page cache are read fastest by ONE reader thread beside this one:
        # more only hand the GIL back and forth around each open/fstat/read/close (for
        # 100,000 files, 70,000-140,000 context switches and 40% more CPU with four). Files
        # that must come from the disk are read by READ_THREADS threads, so their I/O
        # overlaps: the pool grows once four of the last five groups found their files on
        # the disk (see _Group.waited).
        one = ThreadPoolExecutor(1)
        many: ThreadPoolExecutor | None = None
        waits: deque[bool] = deque(maxlen=5)
        try:
            # At most a few groups in flight, so memory stays bounded for big files.
            pending: deque[Any] = deque()
            for i in range(0, len(locals_), READ_GROUP):
                pending.append((many or one).submit(
                    _read_group, locals_[i : i + READ_GROUP], paths[i : i + READ_GROUP]))
                if len(pending) > READ_THREADS * 2:
                    group = pending.popleft().result()
                    waits.append(group.waited())
                    if many is None and sum(waits) >= 4:
                        many = ThreadPoolExecutor(READ_THREADS)
                    self._take(group)
            while pending:
                self._take(pending.popleft().result())
        finally:
            one.shutdown(cancel_futures=True)
            if many is not None:
                many.shutdown(cancel_futures=True)

    def _take(self, group: _Group) -> None:
        for local, repo_path in group.big:  # big after all (their sizes were not known)
            self._read(local, repo_path)
        if not group.paths:
            return
        if "" in group.paths:
            raise InvalidInput("a file cannot be put at the repo root; give it a name")
        self._batch.append(group)
        self._settle(len(group.paths), sum(group.sizes))

    def _settle(self, files: int, size: int) -> None:
        """Count files appended to the batch, and drain it when it is big enough."""
        self._batch_bytes += size
        self._batch_files += files
        self.result.files_read += files
        self.result.bytes_read += size
        if self._batch_bytes >= BATCH_BYTES or self._batch_files >= BATCH_FILES:
            self._drain()

    def _read(self, local: str, repo_path: str) -> None:
        try:
            if os.stat(local).st_size >= SMALL_FILE:
                self._stream(local, repo_path)
                return
            rf, st = read_file(local)
        except OSError as exc:
            raise InvalidInput(
                f"cannot read {local}: {exc.strerror or exc}", hint="check the file's permissions"
            ) from exc
        self._add(repo_path, rf, stat_mod.S_IMODE(st.st_mode), local, stat_key(st))

    def _stream(self, local: str, repo_path: str) -> None:
        """A big file: cut while reading, stored a bounded batch of chunks at a time."""
        self._drain()
        whole = blake3.blake3(max_threads=blake3.blake3.AUTO)
        digests: list[str] = []
        pending: list[tuple[str, bytes]] = []
        pending_bytes = 0
        size = 0
        with open(local, "rb") as f:
            st = os.fstat(f.fileno())
            for data in stream_chunks(f):
                whole.update(data)
                size += len(data)
                d = digest_of(data)
                digests.append(d)
                pending.append((d, data))
                pending_bytes += len(data)
                if len(pending) >= STREAM_CHUNKS or pending_bytes >= STREAM_BYTES:
                    self._store_chunks(pending)
                    pending = []
                    pending_bytes = 0
        self._store_chunks(pending)
        rf = ReadFile(PREFIX + str(whole.hexdigest()), size, [(d, b"") for d in digests])
        self._resolved.append(
            (normalize_path(repo_path), rf, stat_mod.S_IMODE(st.st_mode), local, stat_key(st))
        )
        self.result.files_read += 1
        self.result.bytes_read += size
        self._tick(size)

    def _store_chunks(self, chunks: list[tuple[str, bytes]]) -> None:
        w = self.writer
        wanted = list({d for d, _ in chunks} - w.locations.keys())
        for digest, pack, offset, length in self._lookup(wanted):
            w.learn(digest, pack, offset, length)
        for d, data in chunks:
            w.add(d, data)

    def _add(
        self, path: str, rf: ReadFile, mode: int, local: str | None, key: StatKey | None
    ) -> None:
        if not path:
            raise InvalidInput("a file cannot be put at the repo root; give it a name")
        self._batch.append((path, rf, mode, local, key))
        self._settle(1, rf.size)

    def _drain(self) -> None:
        """Look the batch's chunks up in the pack index, then pack the new ones."""
        w = self.writer
        batch = self._batch
        if self._stored_chunks():
            wanted: set[str] = set()
            for item in batch:
                if isinstance(item, _Group):
                    wanted.update(item.digests)
                else:
                    wanted.update(d for d, _ in item[1].chunks)
            for digest, pack, offset, length in self._lookup(list(wanted - w.locations.keys())):
                w.learn(digest, pack, offset, length)
        done = 0
        for item in batch:
            if isinstance(item, _Group):
                item.runs = w.add_run(item.digests, item.datas, item.sizes)
                item.datas = []  # let the bytes go
                done += sum(item.sizes)
                continue
            rf = item[1]
            chunks = rf.chunks
            w.add_many(chunks)
            rf.chunks = [(chunks[0][0], b"")] if len(chunks) == 1 else [(d, b"") for d, _ in chunks]
            done += rf.size
        self._resolved += batch
        self._tick(done)   # per batch: progress needs no finer steps than 16 MiB
        self._batch = []
        self._batch_bytes = self._batch_files = 0

    # -- publishing -------------------------------------------------------------------------

    def finish(self) -> PutResult:
        """Store what is staged and publish the commit; returns what happened."""
        if self._finished:
            return self.result
        if self._unchanged_by_memo():
            return self.result
        view = self._view(self.base_head)
        if not self._vouch():
            self._resolve_cached(view)
        self._settle_entries()
        # The stat cache is written while the tree and the commit are (sqlite releases the
        # GIL); its rows are safe before publishing: rows whose packs never got registered
        # are not trusted (see _resolve_cached).
        # The vouched hits are handed over: a retry of the publish may drop them meanwhile.
        saver = threading.Thread(target=self._save_stat_rows, args=(self._vouched,),
                                 daemon=True)
        saver.start()
        try:
            self._publish(view)
        finally:
            saver.join()
        if self.memo_key is not None and self.result.commit is not None:
            self.ds.stat_cache.set_memo(*self.memo_key, Memo(
                self.result.commit.id, len(self._plan_paths), self.sync, self._saved_snapshot))
        self._release()
        return self.result

    def _view(self, head: str | None) -> TreeView | None:
        commit = self._commit(head)
        return None if commit is None else TreeView(self.ds.objects, self.ds._tree(commit))

    def _vouch(self) -> bool:
        """Take the stat cache's hits as the head's own entries, without looking each up in
        the head's tree, when the memo proves it: the head is the one the last put of this
        folder into this path published, and the snapshot is the one that put saved (so its
        rows are what the head holds at their paths). A sync put then removes exactly the
        snapshot's files that are gone, when the last put was a sync put of every file."""
        hits = self._hits
        if hits is None or self.memo_key is None or self.base_head is None:
            return False
        if self._deletes and not self.sync:
            return False
        memo = self.ds.stat_cache.memo(*self.memo_key)
        if (memo is None or memo.head != self.base_head or memo.snapshot is None
                or memo.snapshot != hits.snapshot.source):
            return False
        snap = hits.snapshot
        if self.sync:
            if not memo.sync or memo.files != len(snap) or self._deletes != [hits.prefix]:
                return False
            head = hits.root + "/"
            base = f"{hits.prefix}/" if hits.prefix else ""
            planned = set(hits.plan_locals)
            self._gone = {base + local[len(head):]: (key[0], mode, PREFIX + digest)
                          for local, key, mode, digest in zip(
                              snap.locals, snap.keys, snap.modes, snap.digests, strict=True)
                          if local not in planned}
            self._deletes = []
        rows = self._stat_rows
        keys, modes, digests, parts = hits.rows
        rows.locals += hits.locals
        rows.keys += keys
        rows.modes += modes
        rows.digests += digests
        rows.parts += parts
        self.result.files_unchanged += len(hits.paths)
        self._vouched = hits
        self._hit_groups = []
        return True

    def _unvouch(self) -> None:
        """The head moved under a put whose hits were vouched for: put them as entries after
        all, as any put asserts every file it names."""
        hits = self._vouched
        if hits is None:
            return
        keys, modes, digests, parts = hits.rows
        for path, key, mode, digest, located in zip(hits.paths, keys, modes, digests, parts,
                                                    strict=True):
            self._puts.setdefault(path, FileEntry(path, key[0], mode, PREFIX + digest, located))
        if self._gone:
            self._deletes = list(self._gone)
            self._gone = {}
        self._vouched = None

    def _settle_entries(self) -> None:
        """Store what is staged and make the entries of the files read so far."""
        self._drain()
        self.writer.flush()
        for item in self._resolved:
            if isinstance(item, _Group):
                self._entries_of_group(item)
            else:
                self._entry_of_item(item)
        self._resolved = []

    def _entries_of_group(self, g: _Group) -> None:
        """The file entries (and stat cache rows) of a packed group, after flush()."""
        parts: list[tuple[Part, ...]] = []
        if g.runs is not None:
            # Each file is one part: ((pack, offset, length),), made by zips, in C.
            at = 0
            for run_pack, offsets in g.runs:
                assert run_pack.digest is not None, "packs are stored by now"
                end = at + len(offsets)
                parts += zip(zip(itertools.repeat(run_pack.digest), offsets, g.sizes[at:end],
                                 strict=False))  # repeat() is endless
                at = end
        else:
            locations = self.writer.locations
            for digest in g.digests:
                pack, offset, length = locations[digest]
                name = pack if isinstance(pack, str) else pack.digest
                assert name is not None, "packs are stored by now"
                parts.append(((name, offset, length),))
        self._puts.update(zip(g.paths, make_entries(
            zip(g.paths, g.sizes, g.modes, g.digests, parts, strict=True)), strict=True))
        rows = self._stat_rows
        rows.locals += g.locals
        rows.keys += g.keys
        rows.modes += g.modes
        rows.digests += g.digests
        rows.parts += parts

    def _entry_of_item(self, item: _Item) -> None:
        path, rf, mode, local, key = item
        locations = self.writer.locations
        chunks = rf.chunks
        if len(chunks) == 1:  # part() inlined for the common case of a small file
            pack, offset, length = locations[chunks[0][0]]
            name = pack if isinstance(pack, str) else pack.digest
            assert name is not None, "packs are stored by now"
            parts: tuple[tuple[str, int, int], ...] = ((name, offset, length),)
        else:
            parts = tuple(self.writer.part(d) for d, _ in chunks)
        entry = FileEntry(path, rf.size, mode, rf.digest, parts)
        self._puts[path] = entry
        if local is not None and key is not None:
            self._stat_rows.add(local, key, mode, rf.digest, parts)

    def _save_stat_rows(self, hits: _Hits | None) -> None:
        """One stat cache snapshot per local folder (or file) planned, of the files under it
        that were read or vouched for (`hits`: those vouched for, listed first)."""
        rows, cache = self._stat_rows, self.ds.stat_cache
        if hits is not None and hits.miss_at and not self._gone and hits.snapshot.source:
            # Vouched hits first, then the files read again: only those are saved, as a
            # patch on the snapshot they were compared with.
            n = len(hits.paths)
            read = StatRows(rows.locals[n:], rows.keys[n:], rows.modes[n:], rows.digests[n:],
                            rows.parts[n:])
            positions = [hits.miss_at.get(local, -1) for local in read.locals]
            if positions and -1 not in positions:
                saved = cache.save_patch(hits.root, hits.snapshot.source, positions, read,
                                         self._started_ns)
                if saved is not None:
                    self._saved_snapshot = saved
                    return
        for root in dict.fromkeys(self._roots):
            head = root + "/"
            if len(self._roots) == 1 and all(map(str.startswith, rows.locals,
                                                 itertools.repeat(head))):
                mine = rows  # one folder, and nothing read from outside it: a C-level check
                if (hits is not None and hits.root == root and len(rows) == len(hits.plan_locals)
                        and rows.locals != hits.plan_locals):
                    # Hits first, then what was read: saved in the plan's order, the next
                    # put of the folder compares its stats as whole lists.
                    at = dict(zip(rows.locals, itertools.count()))
                    order = [at.get(local, -1) for local in hits.plan_locals]
                    if -1 not in order:
                        mine = rows.select(order)
            else:
                keep = [i for i, local in enumerate(rows.locals)
                        if local == root or local.startswith(head)]
                mine = rows.select(keep)
            saved = cache.save(root, mine, self._started_ns)
            if len(self._roots) == 1:
                self._saved_snapshot = saved

    def _release(self) -> None:
        """Drop the per-file state of a finished writer before the put turns the cyclic GC
        back on: its first pass would otherwise walk every entry and location just made."""
        self._puts = {}
        self._stat_rows = StatRows()
        self._plan_paths = []
        self.writer.locations = {}

    def _publish(self, view: TreeView | None) -> None:
        head = self.base_head
        cat = self.ds.catalog
        for attempt in range(20):
            if attempt:  # the head moved: the changes go on top of the new one
                self._unvouch()
                view = self._view(head)
            delta = self._delta(view)
            if delta is not None:
                self.result.files = delta.files
                changed = bool(delta.changed or delta.removed)
            else:
                merged, changed = self._merge(view.under("") if view is not None else {})
                self.result.files = len(merged)
            if not changed and self._adds_no_lineage(current := self._commit(head)):
                self._abandon()
                self.result.commit = current
                self.result.changed = False
                break
            if delta is None:
                self._check_clashes(merged)
                tree, blobs = write_tree(self.ds.objects, merged, known=cat.registered)
                learned = {p for e in merged.values() for p, _, _ in e.parts}
            elif changed:
                assert view is not None, "a delta has a base"
                self._check_delta_clashes(view, delta)
                tree, blobs = write_delta(
                    self.ds.objects, view.tree, delta.changed, delta.removed,
                    files=delta.files, size=delta.bytes, known=cat.registered)
                learned = {p for e in delta.changed.values() for p, _, _ in e.parts}
            else:  # the same tree, computed from new inputs
                assert view is not None, "a delta has a base"
                tree, blobs, learned = view.tree, [], set()
            registry = [(d, "tree", 0) for d in blobs]
            # Every pack this writer made is registered, referenced or not, so fsck can
            # collect the unreferenced ones later.
            registry += [(d, "pack", self.writer.sizes[d]) for d in self.writer.packs]
            registry += [(d, packindex.KIND, n) for d, n in self.writer.indexes]
            commit = cat.finish_commit(
                commit_id=self.id, repo=self.repo, branch=self.branch, expected_head=head,
                row_exists=self._row, origin=self.origin, message=self.message, info=self.info,
                tree=tree.digest, files=tree.files, size=tree.bytes,
                provenance=self.provenance, blobs=registry,
                reused=learned - set(self.writer.packs),
            )
            if commit is not None:
                self.result.commit = commit
                self.result.changed = True
                break
            head = self._current_head()
        else:
            raise Conflict(
                f"branch '{self.branch}' of repo '{self.repo}' kept moving; commit not published",
                hint="retry the put",
            )
        self.result.bytes_stored = self.writer.bytes_written
        self.result.packs = list(self.writer.packs)
        self._finished = True

    def _delta(self, view: TreeView | None) -> _Delta | None:
        """The commit's changes against the base, when they are few enough to be written as
        a delta on it (see tree.py); None when a full tree is written instead."""
        if view is None or "" in self._deletes:
            return None
        if not view.tree.takes_delta(len(self._puts) + len(self._gone)):
            return None
        removed: dict[str, _Old] = dict(self._gone)
        for folder in self._deletes:
            removed.update((p, (e.size, e.mode, e.digest))
                           for p, e in view.under(folder).items())
        if not view.tree.takes_delta(len(self._puts) + len(removed)):
            return None
        missed = self._vouched.missed if self._vouched is not None else {}
        changed: dict[str, FileEntry] = {}
        new: list[str] = []
        files, size = view.tree.files, view.tree.bytes
        for path, e in self._puts.items():
            old = removed.pop(path, None) or missed.get(path)
            if old is None:
                found = view.get(path)
                old = None if found is None else (found.size, found.mode, found.digest)
            if old is not None and old[2] == e.digest and old[1] == e.mode:
                continue
            changed[path] = e
            if old is None:
                new.append(path)
                files += 1
                size += e.size
            else:
                size += e.size - old[0]
        files -= len(removed)
        size -= sum(old[0] for old in removed.values())
        return _Delta(changed, removed, new, files, size)

    def _check_delta_clashes(self, view: TreeView, delta: _Delta) -> None:
        """_check_clashes for a delta: only the paths new to the base can clash, with a file
        in a folder's place (in the base or put here) or a folder in a file's."""
        if not delta.new:
            return
        folders: set[str] = set()
        for path in delta.new:
            while "/" in path:
                path = path.rpartition("/")[0]
                if path in folders:
                    break
                folders.add(path)
        for folder in sorted(folders):
            here = folder in self._puts or (
                folder not in delta.removed and view.get(folder) is not None)
            if here:
                path = next(p for p in sorted(delta.new) if p.startswith(folder + "/"))
                raise Conflict(
                    f"cannot put '/{path}' in {self.repo}@{self.branch}: '/{folder}' is a "
                    "file there",
                    hint=f"delete '/{folder}' first, or put under another path",
                )
        for path in delta.new:
            inside = [p for p in view.under(path, files_only_under=True)
                      if p not in delta.removed]
            if inside:
                raise Conflict(
                    f"cannot put file '/{path}' in {self.repo}@{self.branch}: it is a folder "
                    f"there (holding '/{inside[0]}')",
                    hint="put under another path, or delete the folder first (--sync)",
                )

    def _unchanged_by_memo(self) -> bool:
        """True (and the result filled in) when the memo of the last identical put proves
        that nothing changed: no tree is loaded then, nothing is written."""
        hits = self._hits
        if (self.memo_key is None or hits is None or self._puts or self._batch
                or self._resolved or len(hits.paths) != len(self._plan_paths)):
            return False
        memo = self.ds.stat_cache.memo(*self.memo_key)
        if (memo is None or memo.head != self.base_head or memo.files != len(self._plan_paths)
                or memo.snapshot is None or memo.snapshot != hits.snapshot.source
                or (self.sync and not memo.sync)):
            return False
        if self._current_head() != memo.head:
            return False
        commit = self._commit(memo.head)
        if not self._adds_no_lineage(commit):
            return False
        self.result.commit = commit
        self.result.changed = False
        self.result.files = commit.files if commit else 0
        self.result.files_unchanged = len(hits.paths)
        self._hit_groups = []
        self._finished = True
        return True

    def _adds_no_lineage(self, head: Commit | None) -> bool:
        """Whether an unchanged tree may skip its commit: its provenance names no commit the
        head does not already record.

        The same files computed again from the same inputs (a retried step, a re-put) are no
        news, but the same files computed from a new input commit are: without a commit
        saying so, the new input's subvenance would miss them and the output's provenance
        would still name only the old input."""
        if not self.provenance:
            return True
        return head is not None and set(self.provenance) <= set(head.provenance)

    def _resolve_cached(self, view: TreeView | None) -> None:
        """Turn stat-cache hits into entries; re-read files whose packs were collected."""
        self._materialize_hits()
        if not self._cached:
            return
        decoded: list[tuple[str, CachedRow, FileEntry]] = []
        rows = self._stat_rows
        # Many hits: one pass over the pages beats a page lookup per hit.
        many = view is not None and len(self._cached) > 256
        base: dict[str, FileEntry] | TreeView = (
            {} if view is None else view.under("") if many else view)
        for path, (local, row) in self._cached.items():
            key, mode, digest, parts = row
            old = base.get(path)
            full = PREFIX + digest
            if old is not None and old.digest == full and old.mode == mode:
                self._puts[path] = old
                self.result.files_unchanged += 1
                rows.add(local, key, mode, digest, parts)
            else:
                decoded.append((local, row, FileEntry(path, key[0], mode, full, parts)))
        self._cached = {}
        if not decoded:
            return
        live = self.ds.catalog.registered({part[0] for _, _, e in decoded for part in e.parts})
        for local, (key, mode, digest, parts), e in decoded:
            if all(part[0] in live for part in e.parts):
                self._puts[e.path] = e
                self.result.files_unchanged += 1
                rows.add(local, key, mode, digest, parts)
            else:
                self._read(local, e.path)

    def _commit(self, commit_id: str | None) -> Commit | None:
        if commit_id is None:
            return None
        if self.ds.reads is not None:
            return self.ds.reads.commit(commit_id)
        with self.ds.catalog.tx() as conn:
            return self.ds.catalog.get_commit(conn, commit_id)

    def _current_head(self) -> str | None:
        state = self.ds.reads.branch(self.repo, self.branch) if self.ds.reads else None
        if state is not None:
            return state.head
        with self.ds.catalog.tx() as conn:
            row = self.ds.catalog.branch_row(conn, self.repo, self.branch)
            if row is None:
                raise self.ds.catalog.no_branch(conn, self.repo, self.branch)
            return row.head

    def _merge(self, base: dict[str, FileEntry]) -> tuple[dict[str, FileEntry], bool]:
        if not base:  # a first put: nothing to compare with (no loop over 100,000 puts)
            return dict(self._puts), bool(self._puts)
        merged = dict(base)
        if self._deletes:
            keys = list(base)  # in path order
            for folder in self._deletes:
                merged.pop(folder, None)
                lo = bisect.bisect_left(keys, folder + "/") if folder else 0
                hi = bisect.bisect_left(keys, folder + "0") if folder else len(keys)
                for path in keys[lo:hi]:  # '0' sorts right after '/'
                    merged.pop(path, None)
        for path in self._gone:
            merged.pop(path, None)
        changed = False
        for path, e in self._puts.items():
            old = base.get(path)
            if old is not None and old.same_content(e):
                merged[path] = old  # keep the old parts: identical trees stay identical
            else:
                merged[path] = e
                changed = True
        # Deleted and put back unchanged (a sync put, a whole output rewritten) is no change;
        # with no put changed, merged's paths are base's, so only a count can differ.
        return merged, changed or len(merged) != len(base)

    def _check_clashes(self, merged: dict[str, FileEntry]) -> None:
        # The folders the puts need, against the files: set operations, not a loop per path.
        folders = {p.rpartition("/")[0] for p in self._puts}
        folders.discard("")
        for folder in list(folders):
            while "/" in folder:
                folder = folder.rpartition("/")[0]
                if folder in folders:
                    break
                folders.add(folder)
        files_in_the_way = folders & merged.keys()
        only_puts = len(merged) == len(self._puts)   # then puts are all there is
        if not files_in_the_way and only_puts:
            return
        keys = sorted(merged)
        for path in self._puts:
            parts = path.split("/")
            for i in range(1, len(parts)):
                parent = "/".join(parts[:i])
                if parent in merged:
                    raise Conflict(
                        f"cannot put '/{path}' in {self.repo}@{self.branch}: '/{parent}' is a "
                        "file there",
                        hint=f"delete '/{parent}' first, or put under another path",
                    )
            i = bisect.bisect_left(keys, path + "/")
            if i < len(keys) and keys[i].startswith(path + "/"):
                raise Conflict(
                    f"cannot put file '/{path}' in {self.repo}@{self.branch}: it is a folder "
                    f"there (holding '/{keys[i]}')",
                    hint="put under another path, or delete the folder first (--sync)",
                )

    def _abandon(self) -> None:
        mine = self.writer.packs + [d for d, _ in self.writer.indexes]
        unregistered = set(mine) - self.ds.catalog.registered(mine)
        for digest in unregistered:
            self.ds.objects.delete(digest)
        if self._row:
            self.ds.catalog.delete_open_commit(self.id)
            self._row = False

    def abort(self) -> None:
        """Drop the open commit and the packs it stored."""
        self._finished = True
        self.writer.discard()
        self._abandon()

    def __enter__(self) -> CommitWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.finish()
        elif not self._finished:
            self.abort()


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """The cyclic GC off for a bulk operation.

    A put of 100,000 files allocates a few hundred thousand small objects (entries, tuples)
    that are freed by reference counting; the collector's full passes over them took a
    quarter of the put. Nested or concurrent uses leave it to the outermost to turn it on.
    """
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


PROBE_EVERY: Final = 8
"""Every this many files a reader asks whether the file is in the page cache."""
_probing = hasattr(os, "RWF_NOWAIT")


def _in_page_cache(fd: int, buf: bytearray) -> bool:
    """Whether the start of an open file is in the page cache: a read that must not wait
    for the disk (RWF_NOWAIT) says so, and reads nothing otherwise."""
    global _probing
    try:
        os.preadv(fd, [buf], 0, os.RWF_NOWAIT)
    except BlockingIOError:
        return False
    except OSError:  # a file system without it: the readers' timing decides instead
        _probing = False
    return True


def _read_group(locals_: list[str], paths: list[str]) -> _Group:
    """Read and hash a group of small files (on a reader thread). Only the open, fstat, read
    and close are steps per file here; the columns are then made by C-level maps."""
    started, cpu = time.perf_counter(), time.thread_time()
    g = _Group(locals_, paths)
    datas = g.datas
    stats: list[os.stat_result] = []
    open_, fstat, read, close = os.open, os.fstat, os.read, os.close
    flags = _read_flags
    local = ""
    probe = bytearray(1)
    try:
        for i, local in enumerate(locals_):
            try:
                fd = open_(local, flags)
            except PermissionError:
                if flags == os.O_RDONLY:
                    raise
                flags = os.O_RDONLY  # O_NOATIME: only for the files' owner (or root)
                fd = open_(local, flags)
            try:
                if not i % PROBE_EVERY and _probing:
                    g.probed += 1
                    g.cold += not _in_page_cache(fd, probe)
                st = fstat(fd)
                size = st.st_size
                if size >= SMALL_FILE:
                    g.big.append((local, ""))
                    continue
                # A regular file returns fewer bytes than asked only at EOF: one read of
                # size + 1 bytes proves there is no more, unless the file grew meanwhile.
                data = read(fd, size + 1)
                if len(data) > size:
                    data = read_rest(fd, data)
                    if len(data) >= SMALL_FILE:
                        g.big.append((local, ""))
                        continue
            finally:
                close(fd)
            datas.append(data)
            stats.append(st)
    except OSError as exc:
        raise InvalidInput(
            f"cannot read {local}: {exc.strerror or exc}", hint="check the file's permissions"
        ) from exc
    if g.big:
        big = {local for local, _ in g.big}
        g.big = [(local, path) for local, path in zip(locals_, paths, strict=True)
                 if local in big]
        kept = [(local, path) for local, path in zip(locals_, paths, strict=True)
                if local not in big]
        g.locals = [local for local, _ in kept]
        g.paths = [path for _, path in kept]
    g.sizes = list(map(len, datas))
    g.keys = list(map(_stat_key, stats))
    g.modes = [m & 0o7777 for m in map(_st_mode, stats)]
    g.digests = list(map(PREFIX.__add__, map(_hexdigest, map(blake3.blake3, datas))))
    g.cpu = time.thread_time() - cpu
    g.wall = time.perf_counter() - started
    return g


class _Folder:
    """A folder on the scan's current path; its (st_dev, st_ino) is asked for only when a
    link to a folder has to be checked against the folders it is inside."""

    __slots__ = ("_ident", "parent", "path")

    def __init__(self, path: str, parent: _Folder | None,
                 ident: tuple[int, int] | None = None) -> None:
        self.path = path
        self.parent = parent
        self._ident = ident

    def ident(self) -> tuple[int, int]:
        if self._ident is None:
            st = os.stat(self.path)
            self._ident = (st.st_dev, st.st_ino)
        return self._ident


def _follow_links(entries: list[os.DirEntry[str]], dirs: list[os.DirEntry[str]],
                  files: list[os.DirEntry[str]], here: _Folder, link: str, src: str,
                  root: str) -> tuple[list[tuple[os.DirEntry[str], _Folder, str]],
                                      list[os.DirEntry[str]]]:
    """The sub-folders (with their place and the link they are reached through) and files of
    a folder that holds links, or that was itself reached through a link (`dirs` and `files`
    are its plain ones). A link to a file is that file; a link to a folder is followed, unless
    the folder is one of those the link is inside (a loop: refused, naming the link); a
    dangling link, a socket or a device is skipped. Below a followed link every folder is
    checked the same way, so a link to a parent (`ln -s .. d/up`) is refused where it first
    leads back, not one detour later."""
    subs: list[tuple[os.DirEntry[str], _Folder, str]] = []
    if len(dirs) + len(files) < len(entries):
        files = []
        for e in entries:
            if e.is_file(follow_symlinks=False):
                files.append(e)
                continue
            if not e.is_symlink():
                continue  # a plain folder (below), a socket, a device
            try:
                st = os.stat(e.path)
            except (FileNotFoundError, NotADirectoryError):
                continue  # a dangling link: nothing to put
            except OSError as exc:
                raise InvalidInput(
                    f"cannot follow the local link {_shown(e.path, src, root)!r} "
                    f"({exc.strerror or exc})",
                    hint="fix or remove the link, then put again (put follows links to files "
                         "and folders)",
                ) from exc
            if stat_mod.S_ISREG(st.st_mode):
                files.append(e)
            elif stat_mod.S_ISDIR(st.st_mode):
                ident = (st.st_dev, st.st_ino)
                _refuse_loop(ident, here, e.path, e.path, src, root)
                subs.append((e, _Folder(e.path, here, ident), e.path))
    for e in dirs:
        if not link:
            subs.append((e, _Folder(e.path, here), ""))
            continue
        st = e.stat(follow_symlinks=False)
        ident = (st.st_dev, st.st_ino)
        _refuse_loop(ident, here, link, e.path, src, root)
        subs.append((e, _Folder(e.path, here, ident), link))
    return subs, files


def _refuse_loop(ident: tuple[int, int], here: _Folder | None, link: str, reached: str,
                 src: str, root: str) -> None:
    """Refuse a folder (`reached`, through `link`) that is one of the folders it is inside."""
    while here is not None:
        if here.ident() == ident:
            via = "" if reached == link else f" (through {_shown(reached, src, root)!r})"
            raise InvalidInput(
                f"local link {_shown(link, src, root)!r} leads back to "
                f"{_shown(here.path, src, root)!r}{via}, a folder it is inside: "
                "following it would never end",
                hint="remove the link (or move it out of the folder you put), then put again; "
                     "put follows links, and stores the files they lead to",
            )
        here = here.parent


def _shown(path: str, src: str, root: str) -> str:
    """A local path as the user named it: the put's source, then the path under it."""
    return os.path.normpath(os.path.join(src, os.path.relpath(path, root)))


def _stat_all(entries: list[os.DirEntry[str]]) -> tuple[list[StatKey], list[int], set[int]]:
    """Stat keys and modes of the entries, on reader threads when they are many (the GIL is
    let go during each stat call), and the positions of those that are gone."""
    groups = [entries[i : i + STAT_GROUP] for i in range(0, len(entries), STAT_GROUP)]
    if len(groups) > 1:
        with ThreadPoolExecutor(STAT_THREADS) as pool:
            done = list(pool.map(_stat_group, groups))
    else:
        done = [_stat_group(g) for g in groups]
    keys: list[StatKey] = []
    modes: list[int] = []
    gone: set[int] = set()
    for group_keys, group_modes, group_gone in done:
        gone.update(len(keys) + i for i in group_gone)
        keys += group_keys
        modes += group_modes
    return keys, modes, gone


def _stat_group(entries: list[os.DirEntry[str]]) -> tuple[list[StatKey], list[int], list[int]]:
    try:
        stats = [e.stat() for e in entries]
        gone: list[int] = []
    except OSError:
        stats, gone = [], []
        for i, e in enumerate(entries):
            try:
                stats.append(e.stat())
            except OSError:
                gone.append(i)
    return (list(map(_stat_key, stats)), [m & 0o7777 for m in map(_st_mode, stats)], gone)


_read_flags: Final = os.O_RDONLY | getattr(os, "O_NOATIME", 0)
"""Reading must not write: without O_NOATIME the first read of a new file (atime <= mtime
under relatime) dirties its inode, 100,000 metadata updates for a first put of D2."""
_stat_key = operator.attrgetter("st_size", "st_mtime_ns", "st_ctime_ns", "st_ino")
_size_of = operator.itemgetter(0)
_st_mode = operator.attrgetter("st_mode")
_hexdigest = operator.methodcaller("hexdigest")
_name = operator.attrgetter("name")


def _under(path: str, prefix: str) -> bool:
    return not prefix or path == prefix or path.startswith(prefix + "/")
