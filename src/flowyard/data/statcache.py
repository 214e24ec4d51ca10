"""The stat cache: (path, size, mtime, ctime, inode) -> file entry, like git's index.

A put looks a file up here before reading it; when the stat fields all match, the entry is
reused and the file is not read. It is a plain SQLite file under FLOWYARD_HOME (local to the
machine, whatever the metadata database is), keyed by object store URL. A file modified
within RACY_NS of the put that read it is not cached: its next change could keep the same
mtime (git's "racily clean" problem).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Final

from flowyard.data.content import PREFIX, FileEntry, Part

RACY_NS: Final = 50_000_000
StatKey = tuple[int, int, int, int]
"""(size, mtime_ns, ctime_ns, inode)."""


_PACKS: dict[str, str] = {}


def encode_parts(parts: tuple[Part, ...]) -> str:
    """'hex,offset,length;...' (JSON costs three times as much to parse for 100k rows)."""
    if len(parts) == 1:  # a small file: no generator and join, 100,000 times in a first put
        p, off, n = parts[0]
        return f"{p[len(PREFIX):]},{off},{n}"
    return ";".join(f"{p[len(PREFIX):]},{off},{n}" for p, off, n in parts)


def decode_parts(text: str) -> tuple[Part, ...]:
    out = []
    for item in text.split(";") if text else ():
        hexd, off, n = item.split(",")
        pack = _PACKS.get(hexd)
        if pack is None:
            pack = _PACKS.setdefault(hexd, PREFIX + hexd)
        out.append((pack, int(off), int(n)))
    return tuple(out)


def stat_key(st: os.stat_result) -> StatKey:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


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
            db.execute(
                "CREATE TABLE IF NOT EXISTS entries (store TEXT NOT NULL, path TEXT NOT NULL, "
                "size INTEGER, mtime_ns INTEGER, ctime_ns INTEGER, ino INTEGER, mode INTEGER, "
                "digest TEXT, parts TEXT, PRIMARY KEY (store, path)) WITHOUT ROWID"
            )
            db.execute(
                "CREATE TABLE IF NOT EXISTS memos (store TEXT NOT NULL, root TEXT NOT NULL, "
                "target TEXT NOT NULL, head TEXT, files INTEGER, fingerprint TEXT, "
                "sync INTEGER, PRIMARY KEY (store, root, target)) WITHOUT ROWID"
            )
            self._db = db
        except (OSError, sqlite3.Error):
            # The cache only saves work; a read-only home must not stop a put.
            self._db = None

    def load(self, folder: str) -> dict[str, tuple[StatKey, int, str, str]]:
        """Cached rows for files at or under an absolute local path: path -> (key, mode, ...)."""
        if self._db is None:
            return {}
        lo, hi = folder.rstrip("/") + "/", folder.rstrip("/") + "0"  # '0' sorts after '/'
        rows = self._db.execute(
            "SELECT path, size, mtime_ns, ctime_ns, ino, mode, digest, parts FROM entries "
            "WHERE store = ? AND ((path >= ? AND path < ?) OR path = ?)",
            (self.store, lo, hi, folder),
        )
        return {r[0]: ((r[1], r[2], r[3], r[4]), r[5], r[6], r[7]) for r in rows}

    def has_rows(self, folder: str) -> bool:
        """Whether any file at or under `folder` is cached (if not, a put need not stat first)."""
        if self._db is None:
            return False
        lo, hi = folder.rstrip("/") + "/", folder.rstrip("/") + "0"
        row = self._db.execute(
            "SELECT 1 FROM entries WHERE store = ? AND ((path >= ? AND path < ?) OR path = ?) "
            "LIMIT 1",
            (self.store, lo, hi, folder),
        ).fetchone()
        return row is not None

    @staticmethod
    def entry(repo_path: str, row: tuple[StatKey, int, str, str]) -> FileEntry:
        key, mode, digest, parts = row
        return FileEntry(repo_path, key[0], mode, PREFIX + digest, decode_parts(parts))

    def save(self, items: Iterable[tuple[str, StatKey, FileEntry]], now_ns: int) -> None:
        if self._db is None:
            return
        rows = [
            (
                self.store,
                local,
                key[0],
                key[1],
                key[2],
                key[3],
                e.mode,
                e.digest[len(PREFIX) :],
                encode_parts(e.parts),
            )
            for local, key, e in items
            if now_ns - key[1] > RACY_NS
        ]
        if not rows:
            return
        with contextlib.suppress(sqlite3.Error):
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("INSERT OR REPLACE INTO entries VALUES (?,?,?,?,?,?,?,?,?)", rows)
            self._db.execute("COMMIT")

    def forget_packs(self, packs: set[str]) -> None:
        """Drop rows that point into packs that were collected."""
        if self._db is None or not packs:
            return
        hexes = [p[len(PREFIX) :] for p in packs]
        rows = self._db.execute("SELECT path, parts FROM entries WHERE store = ?", (self.store,))
        gone = [
            (self.store, path)
            for path, parts in rows.fetchall()
            if any(h in parts for h in hexes)
        ]
        with contextlib.suppress(sqlite3.Error):
            self._db.executemany("DELETE FROM entries WHERE store = ? AND path = ?", gone)

    def memo(self, root: str, target: str) -> tuple[str, int, str, bool] | None:
        """What the last put of folder `root` into `target` left: (head, files, fingerprint,
        sync). With every file a stat hit and the same fingerprint, a re-put is a no-op."""
        if self._db is None:
            return None
        row = self._db.execute(
            "SELECT head, files, fingerprint, sync FROM memos WHERE store = ? AND root = ? "
            "AND target = ?",
            (self.store, root, target),
        ).fetchone()
        return None if row is None else (row[0], row[1], row[2], bool(row[3]))

    def set_memo(
        self, root: str, target: str, head: str, files: int, fingerprint: str, sync: bool
    ) -> None:
        if self._db is None:
            return
        with contextlib.suppress(sqlite3.Error):
            self._db.execute(
                "INSERT OR REPLACE INTO memos VALUES (?,?,?,?,?,?,?)",
                (self.store, root, target, head, files, fingerprint, int(sync)),
            )

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
