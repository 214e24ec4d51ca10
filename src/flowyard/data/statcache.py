"""The stat cache: (path, size, mtime, ctime, inode) -> file entry, like git's index.

A put looks a file up here before reading it; when the stat fields all match, the entry is
reused and the file is not read. It is a plain SQLite file under FLOWYARD_HOME (local to the
machine, whatever the metadata database is), keyed by object store URL. A file modified
within RACY_NS of the put that read it is not cached: its next change could keep the same
mtime (git's "racily clean" problem).

What a put of a folder read is kept as one *snapshot* per folder: a compact binary blob in
one row, written and read as whole columns (a row per file made the first put of 100,000
files insert 100,000 rows, 30 MB written twice through the WAL). Layout, little-endian:

    b"FYSC" | version u8 | 3 zero bytes | files u32 | packs u32 | names bytes u32
    packs x pack digest (32 raw bytes)
    names: the files' paths relative to the folder, NUL-separated, UTF-8 (surrogateescape)
    files x size i64 | files x mtime_ns i64 | files x ctime_ns i64 | files x inode u64
    files x mode u32 | files x content digest (32 raw bytes) | files x parts u32
    for every part, in file order: pack number u32 | offset u64 | length u64

A re-put that changed a few files of a folder whose snapshot it trusted (same files, same
order) saves only those rows, as a *patch* beside the snapshot: rewriting 11 MB for 1,000
changed files of 100,000 was a third of such a put. Layout: b"FYSP" | rows u32 | rows x
position u32 | the rows as a snapshot (above). A patch covering more than 1/PATCH_SHARE of
the rows is folded into a new snapshot instead.
"""

from __future__ import annotations

import contextlib
import itertools
import operator
import os
import sqlite3
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, NamedTuple

import blake3

from flowyard.data.content import PREFIX, Part

RACY_NS: Final = 50_000_000
StatKey = tuple[int, int, int, int]
"""(size, mtime_ns, ctime_ns, inode)."""
CachedRow = tuple[StatKey, int, str, tuple[Part, ...]]
"""What the cache knows of a file: (stat key, mode, content digest hex, parts)."""

MAGIC: Final = b"FYSC"
PATCH_MAGIC: Final = b"FYSP"
PATCH_SHARE: Final = 8
VERSION: Final = 1
_HEAD: Final = struct.Struct("<4sB3xIII")


def stat_key(st: os.stat_result) -> StatKey:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


@dataclass(slots=True)
class StatRows:
    """Files to cache, as columns: local paths, stat keys, modes, content digests (hex, with
    or without the 'blake3:' prefix) and parts."""

    locals: list[str] = field(default_factory=list)
    keys: list[StatKey] = field(default_factory=list)
    modes: list[int] = field(default_factory=list)
    digests: list[str] = field(default_factory=list)
    parts: list[tuple[Part, ...]] = field(default_factory=list)
    source: str | None = None
    """The digest of the snapshot these rows are, when they are one saved snapshot of the
    folder asked for, whole (a put's memo names the snapshot it saved)."""

    def add(self, local: str, key: StatKey, mode: int, digest: str,
            parts: tuple[Part, ...]) -> None:
        self.locals.append(local)
        self.keys.append(key)
        self.modes.append(mode)
        self.digests.append(digest)
        self.parts.append(parts)

    def __len__(self) -> int:
        return len(self.locals)

    def select(self, keep: list[int]) -> StatRows:
        """The rows at these positions."""
        return StatRows([self.locals[i] for i in keep], [self.keys[i] for i in keep],
                        [self.modes[i] for i in keep], [self.digests[i] for i in keep],
                        [self.parts[i] for i in keep])


def encode(root: str, rows: StatRows) -> bytes:
    """The snapshot of `rows` (every local path at or under `root`)."""
    count = len(rows)
    cut = len(root) + 1
    names = "\0".join([local[cut:] for local in rows.locals]).encode("utf-8", "surrogateescape")
    sizes, mtimes, ctimes, inos = zip(*rows.keys, strict=True) if count else ((),) * 4
    counts = list(map(len, rows.parts))
    flat = list(itertools.chain.from_iterable(rows.parts))
    packs_of, offsets, lengths = zip(*flat, strict=True) if flat else ((), (), ())
    numbers = {p: i for i, p in enumerate(dict.fromkeys(packs_of))}
    hexes = "".join(numbers).replace(PREFIX, "") + "".join(rows.digests).replace(PREFIX, "")
    raw = bytes.fromhex(hexes)
    npacks = len(numbers)
    return b"".join((
        _HEAD.pack(MAGIC, VERSION, count, npacks, len(names)),
        raw[: 32 * npacks],
        names,
        struct.pack(f"<{count}q", *sizes),
        struct.pack(f"<{count}q", *mtimes),
        struct.pack(f"<{count}q", *ctimes),
        struct.pack(f"<{count}Q", *inos),
        struct.pack(f"<{count}I", *rows.modes),
        raw[32 * npacks :],
        struct.pack(f"<{count}I", *counts),
        struct.pack(f"<{len(flat)}I", *map(numbers.__getitem__, packs_of)),
        struct.pack(f"<{len(flat)}Q", *offsets),
        struct.pack(f"<{len(flat)}Q", *lengths),
    ))


def decode(root: str, data: bytes) -> StatRows:
    """The rows of a snapshot; ValueError when it is damaged or of another version."""
    magic, version, count, npacks, nbytes = _HEAD.unpack_from(data)
    if magic != MAGIC or version != VERSION:
        raise ValueError("not a stat cache snapshot of this version")
    at = _HEAD.size
    packs = [PREFIX + data[i : i + 32].hex() for i in range(at, at + 32 * npacks, 32)]
    at += 32 * npacks
    names = data[at : at + nbytes].decode("utf-8", "surrogateescape").split("\0")
    at += nbytes

    def column(code: str, n: int, width: int) -> tuple[int, ...]:
        nonlocal at
        out = struct.unpack_from(f"<{n}{code}", data, at)
        at += n * width
        return out

    sizes, mtimes, ctimes = column("q", count, 8), column("q", count, 8), column("q", count, 8)
    inos, modes = column("Q", count, 8), column("I", count, 4)
    hexes = data[at : at + 32 * count].hex()
    at += 32 * count
    counts = column("I", count, 4)
    nparts = sum(counts)
    numbers, offsets, lengths = column("I", nparts, 4), column("Q", nparts, 8), column(
        "Q", nparts, 8)
    if at != len(data) or len(names) != max(count, 1):
        raise ValueError("a stat cache snapshot of the wrong length")
    located = list(zip(map(packs.__getitem__, numbers), offsets, lengths, strict=True))
    if nparts == count:  # one part each: every small file, and most big ones
        parts: list[tuple[Part, ...]] = list(zip(located, strict=True))
    else:
        ends = list(itertools.accumulate(counts))
        parts = [tuple(located[end - n : end]) for n, end in zip(counts, ends, strict=True)]
    digests = [hexes[i : i + 64] for i in range(0, 64 * count, 64)]
    head = root + "/"
    locals_ = [head + name if name else root for name in names[:count]]
    keys = list(zip(sizes, mtimes, ctimes, inos, strict=True))
    return StatRows(locals_, keys, list(modes), digests, parts)


_mtime = operator.itemgetter(1)


class Memo(NamedTuple):
    """What a put of a folder into a repo path left."""

    head: str
    """The branch head the put published (or found unchanged)."""
    files: int
    sync: bool
    snapshot: str | None
    """The digest of the stat cache snapshot the put saved: while the head is unmoved and
    the snapshot is this one, its rows are what the head holds at their paths (a re-put
    whose every file is a hit on it changes nothing)."""


class _Abandon(Exception):
    """Leave a write transaction without a change."""


@contextlib.contextmanager
def _immediate(db: sqlite3.Connection) -> Iterator[None]:
    """A write transaction: committed at the end, rolled back on any exception."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _digest(data: bytes, patch: bytes | None = None) -> str:
    h = blake3.blake3(data)
    if patch is not None:
        h.update(patch)
    return str(h.hexdigest())


def _packs_named(data: bytes) -> set[bytes]:
    """The raw pack digests a snapshot names (none when it is damaged)."""
    try:
        npacks = _HEAD.unpack_from(data)[3]
    except struct.error:
        return set()
    return {data[i : i + 32] for i in range(_HEAD.size, _HEAD.size + 32 * npacks, 32)}


def encode_patch(root: str, positions: list[int], rows: StatRows) -> bytes:
    count = len(positions)
    return b"".join((PATCH_MAGIC, struct.pack(f"<I{count}I", count, *positions),
                     encode(root, rows)))


def decode_patch(root: str, data: bytes) -> tuple[list[int], StatRows]:
    if data[:4] != PATCH_MAGIC:
        raise ValueError("not a stat cache patch")
    count = struct.unpack_from("<I", data, 4)[0]
    positions = list(struct.unpack_from(f"<{count}I", data, 8))
    rows = decode(root, data[8 + 4 * count :])
    if len(rows) != count:
        raise ValueError("a stat cache patch of the wrong length")
    return positions, rows


def apply_patch(rows: StatRows, positions: list[int], patch: StatRows) -> None:
    for i, pos in enumerate(positions):
        rows.locals[pos] = patch.locals[i]
        rows.keys[pos] = patch.keys[i]
        rows.modes[pos] = patch.modes[i]
        rows.digests[pos] = patch.digests[i]
        rows.parts[pos] = patch.parts[i]


def _concat(a: StatRows, b: StatRows) -> StatRows:
    return StatRows(a.locals + b.locals, a.keys + b.keys, a.modes + b.modes,
                    a.digests + b.digests, a.parts + b.parts)


def _under(folder: str) -> tuple[str, str]:
    """(lo, hi): the paths under `folder` are those with lo <= path < hi."""
    return folder.rstrip("/") + "/", folder.rstrip("/") + "0"  # '0' sorts after '/'


class StatCache:
    def __init__(self, path: Path, store_url: str) -> None:
        self.path = path
        self.store = store_url
        self._db: sqlite3.Connection | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # check_same_thread=False: save() may run on a helper thread (one at a time).
            db = sqlite3.connect(path, timeout=30, isolation_level=None,
                                 check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            # The row-per-file table of earlier versions: its rows are not read any more.
            db.execute("DROP TABLE IF EXISTS entries")
            db.execute(
                "CREATE TABLE IF NOT EXISTS snapshots (store TEXT NOT NULL, root TEXT NOT NULL, "
                "files INTEGER NOT NULL, data BLOB NOT NULL, patch BLOB, "
                "PRIMARY KEY (store, root))"
            )
            if "patch" not in {r[1] for r in db.execute("PRAGMA table_info(snapshots)")}:
                db.execute("ALTER TABLE snapshots ADD COLUMN patch BLOB")  # an older cache
            db.execute(
                "CREATE TABLE IF NOT EXISTS memos (store TEXT NOT NULL, root TEXT NOT NULL, "
                "target TEXT NOT NULL, head TEXT, files INTEGER, "
                "sync INTEGER, snapshot TEXT, PRIMARY KEY (store, root, target)) WITHOUT ROWID"
            )
            columns = {r[1] for r in db.execute("PRAGMA table_info(memos)")}
            if "snapshot" not in columns:  # a cache made by an earlier version
                db.execute("ALTER TABLE memos ADD COLUMN snapshot TEXT")
            self._db = db
        except (OSError, sqlite3.Error):
            # The cache only saves work; a read-only home must not stop a put.
            self._db = None

    def _roots(self, folder: str) -> list[str]:
        """Snapshot roots that may hold files at or under `folder`: the folder itself, the
        folders it is in, and folders inside it."""
        if self._db is None:
            return []
        folder = folder.rstrip("/") or "/"
        above = [str(p) for p in Path(folder).parents]
        lo, hi = _under(folder)
        marks = ",".join("?" * (len(above) + 1))
        rows = self._db.execute(
            f"SELECT root FROM snapshots WHERE store = ? AND (root IN ({marks}) "
            "OR (root >= ? AND root < ?))",
            (self.store, folder, *above, lo, hi),
        )
        return [r[0] for r in rows]

    def has_rows(self, folder: str) -> bool:
        """Whether any file at or under `folder` may be cached (if not, a put need not stat
        first)."""
        return bool(self._roots(folder))

    def load(self, folder: str) -> StatRows:
        """Cached rows for the files at or under an absolute local path. The snapshot of
        that very folder comes as it was saved (in the order its put planned the files)."""
        if self._db is None:
            return StatRows()
        found: list[StatRows] = []
        lo, _ = _under(folder)
        # Outer snapshots first, so the rows of the newer, inner ones win.
        for root in sorted(self._roots(folder), key=len):
            row = self._db.execute(
                "SELECT data, patch FROM snapshots WHERE store = ? AND root = ?",
                (self.store, root),
            ).fetchone()
            if row is None:
                continue
            try:
                rows = decode(root, row[0])
                if row[1] is not None:
                    apply_patch(rows, *decode_patch(root, row[1]))
            except (ValueError, IndexError, struct.error, UnicodeDecodeError):
                continue  # damaged: its files are read again, and the next put replaces it
            if root == folder:
                rows.source = _digest(row[0], row[1])
            if len(root) < len(folder):  # a folder the put's folder is in: keep its part
                rows = rows.select([i for i, local in enumerate(rows.locals)
                                    if local == folder or local.startswith(lo)])
            found.append(rows)
        if len(found) == 1:
            return found[0]
        for rows in found:
            rows.source = None
        merged: dict[str, CachedRow] = {}
        for rows in found:
            merged.update(zip(rows.locals, zip(rows.keys, rows.modes, rows.digests, rows.parts,
                                               strict=True), strict=True))
        out = StatRows()
        for local, (key, mode, digest, parts) in merged.items():
            out.add(local, key, mode, digest, parts)
        return out

    def save(self, root: str, rows: StatRows, now_ns: int) -> str | None:
        """Replace the snapshot of folder (or file) `root` with `rows`, which must all be at
        or under it; rows of files modified within RACY_NS of `now_ns` (the start of the put
        that read them) are left out. Snapshots of folders inside `root` go: this one
        holds their files now. Returns the snapshot's digest (None if it was not saved)."""
        if self._db is None:
            return None
        limit = now_ns - RACY_NS
        if rows.keys and max(map(_mtime, rows.keys)) >= limit:
            rows = rows.select([i for i, key in enumerate(rows.keys) if key[1] < limit])
        data = encode(root, rows)
        lo, hi = _under(root)
        try:
            with _immediate(self._db):
                self._db.execute(
                    "DELETE FROM snapshots WHERE store = ? AND root >= ? AND root < ?",
                    (self.store, lo, hi),
                )
                self._db.execute(
                    "INSERT OR REPLACE INTO snapshots (store, root, files, data, patch) "
                    "VALUES (?,?,?,?,NULL)", (self.store, root, len(rows), data))
        except sqlite3.Error:
            return None
        return _digest(data)

    def save_patch(self, root: str, source: str, positions: list[int], rows: StatRows,
                   now_ns: int) -> str | None:
        """Replace the rows at `positions` of the snapshot of `root`, which must still be
        the one whose digest is `source`; returns the new digest, or None when a whole
        snapshot must be saved instead (a changed snapshot, a racy file, a big patch)."""
        if self._db is None or not rows.keys:
            return None
        if max(map(_mtime, rows.keys)) >= now_ns - RACY_NS:
            return None  # such a file must not be cached: a whole snapshot leaves it out
        try:
            with _immediate(self._db):
                row = self._db.execute(
                    "SELECT data, patch, files FROM snapshots WHERE store = ? AND root = ?",
                    (self.store, root),
                ).fetchone()
                if row is None or _digest(row[0], row[1]) != source:
                    raise _Abandon
                if row[1] is not None:  # the rows patched before, unless patched again now
                    old_positions, old = decode_patch(root, row[1])
                    mine = set(positions)
                    keep = [i for i, pos in enumerate(old_positions) if pos not in mine]
                    positions = [old_positions[i] for i in keep] + positions
                    rows = _concat(old.select(keep), rows)
                if len(positions) * PATCH_SHARE > row[2] or max(positions) >= row[2]:
                    raise _Abandon
                patch = encode_patch(root, positions, rows)
                self._db.execute("UPDATE snapshots SET patch = ? WHERE store = ? AND root = ?",
                                 (patch, self.store, root))
        except (sqlite3.Error, _Abandon):
            return None
        return _digest(row[0], patch)

    def forget_packs(self, packs: set[str]) -> None:
        """Drop the snapshots that point into packs that were collected (their files are
        read again by the next put)."""
        if self._db is None or not packs:
            return
        raws = {bytes.fromhex(p[len(PREFIX) :]) for p in packs}
        gone = []
        for root, data, patch in self._db.execute(
            "SELECT root, data, patch FROM snapshots WHERE store = ?", (self.store,)
        ).fetchall():
            named = _packs_named(data)
            if patch is not None:
                count = int.from_bytes(patch[4:8], "little")
                named |= _packs_named(patch[8 + 4 * count :])
            if named & raws or not named:
                gone.append((self.store, root))
        with contextlib.suppress(sqlite3.Error):
            self._db.executemany("DELETE FROM snapshots WHERE store = ? AND root = ?", gone)

    def memo(self, root: str, target: str) -> Memo | None:
        """What the last put of folder `root` into `target` left. With every file a stat hit
        and the same fingerprint, a re-put is a no-op."""
        if self._db is None:
            return None
        row = self._db.execute(
            "SELECT head, files, sync, snapshot FROM memos WHERE store = ? AND root = ? "
            "AND target = ?",
            (self.store, root, target),
        ).fetchone()
        return None if row is None else Memo(row[0], row[1], bool(row[2]), row[3])

    def set_memo(self, root: str, target: str, memo: Memo) -> None:
        if self._db is None:
            return
        with contextlib.suppress(sqlite3.Error):
            self._db.execute(
                "INSERT OR REPLACE INTO memos (store, root, target, head, files, sync, "
                "snapshot) VALUES (?,?,?,?,?,?,?)",
                (self.store, root, target, memo.head, memo.files, int(memo.sync),
                 memo.snapshot),
            )

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
