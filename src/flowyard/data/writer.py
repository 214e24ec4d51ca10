"""An open commit: files are read, chunked, deduplicated and packed, then published at once.

`CommitWriter` is what `DataStore.put` and `DataStore.open_commit` hand out. Staging writes
only blobs (and, before each pack, a note on the open commit row); `finish()` publishes the
commit in one transaction (see `Catalog.finish_commit`), or reports that nothing changed.
"""

from __future__ import annotations

import bisect
import contextlib
import gc
import operator
import os
import stat as stat_mod
import threading
import time
import uuid
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
    ReadFile,
    digest_of,
    read_file,
    read_small,
    split_bytes,
    stream_chunks,
    temp_folder,
)
from flowyard.data.records import Commit
from flowyard.data.refs import normalize_path
from flowyard.data.statcache import StatKey, decode_parts, stat_key
from flowyard.data.tree import write_tree
from flowyard.errors import Conflict, InvalidInput

if TYPE_CHECKING:
    from flowyard.data.repo import DataStore, Progress

BATCH_BYTES: Final = 16 << 20
BATCH_FILES: Final = 4096
READ_THREADS: Final = 4
READ_GROUP: Final = 256
STREAM_CHUNKS: Final = 32


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
class _Planned:
    local: str
    repo_path: str
    size: int
    stat: os.stat_result | None = None


@dataclass(slots=True)
class _Plan:
    root: str
    files: list[_Planned]

    @property
    def size(self) -> int:
        return sum(p.size for p in self.files)


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
        self._batch: list[tuple[str, ReadFile, int, str | None, StatKey | None]] = []
        self._batch_bytes = 0
        self._resolved: list[tuple[str, ReadFile, int, str | None, StatKey | None]] = []
        self._stat_rows: list[tuple[str, StatKey, FileEntry]] = []
        self._cached: dict[str, tuple[str, int, int, str, str]] = {}
        self.memo_key: tuple[str, str] | None = None
        self.sync = False
        self._plan_paths: list[str] = []
        self._plan_fingerprint: str | None = None
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
            return _Plan("", [])
        path = Path(src)
        if not path.exists():
            raise InvalidInput(
                f"local path {str(src)!r} does not exist", hint="check the path and try again"
            )
        root = str(path.absolute())
        if path.is_file():
            name = prefix if as_file else "/".join(p for p in (prefix, path.name) if p)
            st = os.stat(root)
            return _Plan(root, [_Planned(root, normalize_path(name), st.st_size, st)])
        if not path.is_dir():
            raise InvalidInput(f"local path {str(src)!r} is neither a file nor a folder")
        out: list[_Planned] = []
        # Nothing cached under this folder (a first put): no stat to compare, so skip the
        # 100,000 stat calls; the readers fstat each file anyway (sizes unknown until then).
        lazy = not self.ds.stat_cache.has_rows(root)
        stack = [(root, prefix)]
        while stack:
            folder, base = stack.pop()
            with os.scandir(folder) as it:
                for entry in sorted(it, key=_name):
                    rel = f"{base}/{entry.name}" if base else entry.name
                    if entry.is_dir():
                        stack.append((entry.path, rel))
                        continue
                    if lazy:
                        if entry.is_file():  # d_type: no stat call for a regular file
                            out.append(_Planned(entry.path, rel, 0))
                        continue
                    try:
                        st = entry.stat()
                    except OSError:
                        continue  # dangling symlink
                    if stat_mod.S_ISREG(st.st_mode):
                        out.append(_Planned(entry.path, rel, st.st_size, st))
        return _Plan(root, out)

    def put_planned(self, plan: _Plan) -> None:
        if not plan.files:
            return
        cache = self.ds.stat_cache
        rows = cache.load(plan.root)
        hits: list[tuple[_Planned, Any]] = []
        misses: list[_Planned] = []
        for p in plan.files:
            row = rows.get(p.local)
            if row is None or p.stat is None:
                misses.append(p)
                continue
            st = p.stat
            if row[0] == stat_key(st) and row[1] == stat_mod.S_IMODE(st.st_mode):
                hits.append((p, row))
            else:
                misses.append(p)
        self._plan_paths += [p.repo_path for p in plan.files]
        if not misses:
            self._plan_fingerprint = _fingerprint((p.repo_path, row[2]) for p, row in hits)
        for p, row in hits:
            # Decoded lazily in finish(): most hits equal the base tree's entry.
            key, mode, digest, parts = row
            self._cached[p.repo_path] = (p.local, key[0], mode, digest, parts)
            self._tick(key[0])
        self._read_many([(p.local, p.repo_path, p.size) for p in misses])

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
        for p in [p for p in self._puts if _under(p, path)]:
            del self._puts[p]
        for p in [p for p in self._cached if _under(p, path)]:
            del self._cached[p]

    def _read_many(self, planned: list[tuple[str, str, int]]) -> None:
        """Read small files on a few threads (the kernel overlaps the I/O), in order; stream
        big ones."""
        files = [(local, path) for local, path, size in planned if size < SMALL_FILE]
        for local, path, size in planned:
            if size >= SMALL_FILE:
                self._read(local, path)
        if len(files) < 64:
            for local, repo_path in files:
                self._read(local, repo_path)
            return
        groups = [files[i : i + READ_GROUP] for i in range(0, len(files), READ_GROUP)]
        with ThreadPoolExecutor(READ_THREADS) as pool:
            # At most a few groups in flight, so memory stays bounded for big files.
            pending: list[Any] = []
            for group in groups:
                pending.append(pool.submit(_read_group, group))
                if len(pending) > READ_THREADS * 2:
                    self._take(pending.pop(0).result())
            for future in pending:
                self._take(future.result())

    def _take(self, results: list[tuple[str, str, ReadFile | None, int, StatKey]]) -> None:
        # A whole read group per call, the per-file steps of _add inlined: a first put of
        # 100,000 small files runs this loop 100,000 times.
        batch, count, size = self._batch, 0, 0
        for local, repo_path, rf, mode, key in results:
            if rf is None or not repo_path:  # big after all (its size was not known)
                self._settle(count, size)
                count = size = 0
                self._read(local, repo_path)
                batch = self._batch
                continue
            batch.append((repo_path, rf, mode, local, key))
            count += 1
            size += rf.size
        self._settle(count, size)

    def _settle(self, files: int, size: int) -> None:
        """Count files appended to the batch, and drain it when it is big enough."""
        self._batch_bytes += size
        self.result.files_read += files
        self.result.bytes_read += size
        if self._batch_bytes >= BATCH_BYTES or len(self._batch) >= BATCH_FILES:
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
        """A big file: cut while reading, stored STREAM_CHUNKS chunks at a time."""
        self._drain()
        whole = blake3.blake3(max_threads=blake3.blake3.AUTO)
        digests: list[str] = []
        pending: list[tuple[str, bytes]] = []
        size = 0
        with open(local, "rb") as f:
            st = os.fstat(f.fileno())
            for data in stream_chunks(f):
                whole.update(data)
                size += len(data)
                d = digest_of(data)
                digests.append(d)
                pending.append((d, data))
                if len(pending) >= STREAM_CHUNKS:
                    self._store_chunks(pending)
                    pending = []
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
        if self._stored_chunks():
            wanted = list({d for item in self._batch for d, _ in item[1].chunks}
                          - w.locations.keys())
            for digest, pack, offset, length in self._lookup(wanted):
                w.learn(digest, pack, offset, length)
        w.add_many([c for item in self._batch for c in item[1].chunks])
        done = 0
        for item in self._batch:
            rf = item[1]
            chunks = rf.chunks
            # Let the bytes go.
            rf.chunks = [(chunks[0][0], b"")] if len(chunks) == 1 else [(d, b"") for d, _ in chunks]
            done += rf.size
        self._resolved.extend(self._batch)
        self._tick(done)   # per batch: progress needs no finer steps than 16 MiB
        self._batch = []
        self._batch_bytes = 0

    # -- publishing -------------------------------------------------------------------------

    def finish(self) -> PutResult:
        """Store what is staged and publish the commit; returns what happened."""
        if self._finished:
            return self.result
        if self._unchanged_by_memo():
            return self.result
        head = self.base_head
        base: tuple[str | None, dict[str, FileEntry]] = (
            head, self.ds._entries(self._commit(head))
        )
        self._resolve_cached(base[1])
        self._drain()
        self.writer.flush()
        part, locations = self.writer.part, self.writer.locations
        puts, stat_rows = self._puts, self._stat_rows
        for path, rf, mode, local, key in self._resolved:
            chunks = rf.chunks
            if len(chunks) == 1:  # part() inlined for the common case of a small file
                pack, offset, length = locations[chunks[0][0]]
                name = pack if isinstance(pack, str) else pack.digest
                assert name is not None, "packs are stored by now"
                parts: tuple[tuple[str, int, int], ...] = ((name, offset, length),)
            else:
                parts = tuple(part(d) for d, _ in chunks)
            entry = FileEntry(path, rf.size, mode, rf.digest, parts)
            puts[path] = entry
            if local is not None and key is not None:
                stat_rows.append((local, key, entry))
        self._resolved = []
        # The stat cache is written while the tree and the commit are (sqlite releases the
        # GIL); its rows are safe before publishing: rows whose packs never got registered
        # are not trusted (see _resolve_cached).
        saver = threading.Thread(target=self.ds.stat_cache.save,
                                 args=(self._stat_rows, self._started_ns), daemon=True)
        saver.start()
        try:
            self._publish(base)
        finally:
            saver.join()
        if self.memo_key is not None and self.result.commit is not None:
            fp = _fingerprint(
                (p, self._puts[p].digest[len(PREFIX) :]) for p in self._plan_paths
            )
            self.ds.stat_cache.set_memo(
                *self.memo_key, self.result.commit.id, len(self._plan_paths), fp, self.sync
            )
        return self.result

    def _publish(self, base_cache: tuple[str | None, dict[str, FileEntry]]) -> None:
        head = self.base_head
        cat = self.ds.catalog
        for _ in range(20):
            if base_cache[0] != head:
                base_commit = self._commit(head)
                base_cache = (head, self.ds._entries(base_commit))
            base = base_cache[1]
            merged, changed = self._merge(base)
            self.result.files = len(merged)
            if not changed:
                current = self._commit(head)
                if self._adds_no_lineage(current):
                    self._abandon()
                    self.result.commit = current
                    self.result.changed = False
                    break
            self._check_clashes(merged)
            tree, blobs = write_tree(self.ds.objects, merged, known=cat.registered)
            registry = [(d, "tree", 0) for d in blobs]
            # Every pack this writer made is registered, referenced or not, so fsck can
            # collect the unreferenced ones later.
            registry += [(d, "pack", self.writer.sizes[d]) for d in self.writer.packs]
            registry += [(d, packindex.KIND, n) for d, n in self.writer.indexes]
            learned = {p for e in merged.values() for p, _, _ in e.parts} - set(self.writer.packs)
            commit = cat.finish_commit(
                commit_id=self.id, repo=self.repo, branch=self.branch, expected_head=head,
                row_exists=self._row, origin=self.origin, message=self.message, info=self.info,
                tree=tree.digest, files=tree.files, size=tree.bytes,
                provenance=self.provenance, blobs=registry,
                reused=learned,
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

    def _unchanged_by_memo(self) -> bool:
        """True (and the result filled in) when the memo of the last identical put proves
        that nothing changed: no tree is loaded then, nothing is written."""
        if self.memo_key is None or self._plan_fingerprint is None or self._puts:
            return False
        if self._batch or self._resolved:
            return False
        memo = self.ds.stat_cache.memo(*self.memo_key)
        if memo is None:
            return False
        head, files, fingerprint, sync = memo
        if (head != self.base_head or files != len(self._plan_paths)
                or fingerprint != self._plan_fingerprint or (self.sync and not sync)):
            return False
        if self._current_head() != head:
            return False
        commit = self._commit(head)
        if not self._adds_no_lineage(commit):
            return False
        self.result.commit = commit
        self.result.changed = False
        self.result.files = commit.files if commit else 0
        self.result.files_unchanged = len(self._cached)
        self._cached = {}
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

    def _resolve_cached(self, base: dict[str, FileEntry]) -> None:
        """Turn stat-cache hits into entries; re-read files whose packs were collected."""
        decoded: list[tuple[str, FileEntry]] = []
        for path, (local, size, mode, digest, parts) in self._cached.items():
            old = base.get(path)
            full = PREFIX + digest
            if old is not None and old.digest == full and old.mode == mode:
                self._puts[path] = old
                self.result.files_unchanged += 1
            else:
                decoded.append((local, FileEntry(path, size, mode, full, decode_parts(parts))))
        self._cached = {}
        if not decoded:
            return
        live = self.ds.catalog.registered({part[0] for _, e in decoded for part in e.parts})
        for local, e in decoded:
            if all(part[0] in live for part in e.parts):
                self._puts[e.path] = e
                self.result.files_unchanged += 1
            else:
                self._read(local, e.path)

    def _commit(self, commit_id: str | None) -> Commit | None:
        if commit_id is None:
            return None
        with self.ds.catalog.tx() as conn:
            return self.ds.catalog.get_commit(conn, commit_id)

    def _current_head(self) -> str | None:
        with self.ds.catalog.tx() as conn:
            row = self.ds.catalog.branch_row(conn, self.repo, self.branch)
            if row is None:
                raise self.ds.catalog.no_branch(conn, self.repo, self.branch)
            return row.head

    def _merge(self, base: dict[str, FileEntry]) -> tuple[dict[str, FileEntry], bool]:
        if self._deletes:
            merged = {p: e for p, e in base.items() if not any(_under(p, d) for d in self._deletes)}
        else:
            merged = dict(base)
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


def _fingerprint(items: Iterable[tuple[str, str]]) -> str:
    # One update of the joined text (the same digest as one update per file, at a fraction
    # of the calls for 100,000 files).
    text = "".join([f"{path}\0{digest}\n" for path, digest in items])
    return str(blake3.blake3(text.encode(), max_threads=blake3.blake3.AUTO).hexdigest())


def _read_group(
    group: list[tuple[str, str]],
) -> list[tuple[str, str, ReadFile | None, int, StatKey]]:
    """Read and hash a group of small files (on a reader thread): (local, repo path, content
    or None when the file is big, mode, stat key)."""
    out = []
    for local, repo_path in group:
        try:
            rf, st = read_small(local)
        except OSError as exc:
            raise InvalidInput(
                f"cannot read {local}: {exc.strerror or exc}", hint="check the file's permissions"
            ) from exc
        out.append((local, repo_path, rf, st.st_mode & 0o7777,
                    (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)))
    return out


_name = operator.attrgetter("name")


def _under(path: str, prefix: str) -> bool:
    return not prefix or path == prefix or path.startswith(prefix + "/")
