"""The local SQLite metadata database through the standard library's sqlite3, without SQLAlchemy.

A first `flowyard run` spent 0.1-0.15 s importing SQLAlchemy, and every scheduler write ~1 ms
in its statement layer, for a dozen fixed statements. So for a plain `sqlite:///FILE` URL
`MetadataStore` sends what running a pipeline does (runs, steps, artifacts, the step cache)
here, and an empty database gets its head schema from sqlite_schema.py. Everything else
(listings, resources, data repos, logins, migrating an older database) goes through
SQLAlchemy, imported on first use, on the same file. Both ways write the same text
(values.py) and lock alike (WAL, BEGIN IMMEDIATE for writers, a 30 s busy timeout): they are
two connections to one database, as two processes are. `sqlite+pysqlite:///FILE` keeps
every call on SQLAlchemy.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from operator import attrgetter
from pathlib import Path
from typing import Any, Final, TypeVar
from urllib.parse import unquote

from flowyard.errors import ConfigError, Conflict, FlowyardError, StoreError
from flowyard.store.records import ArtifactRecord, CacheEntry, RunRecord, StepRecord
from flowyard.store.values import json_dumps, json_loads, sqlite_datetime, sqlite_datetime_value

R = TypeVar("R")

JSON_COLUMNS: Final = frozenset({
    "pipeline", "parameters", "options", "outputs", "labels", "inputs", "input_artifacts",
    "output_artifacts", "resources", "metadata",
})
DATETIME_COLUMNS: Final = frozenset({"created_at", "started_at", "finished_at"})
BOOL_COLUMNS: Final = frozenset({"cache_hit", "is_tree"})
"""Column kinds of the tables used here (a test checks them against schema.py's types)."""

RUN_COLUMNS: Final = tuple(RunRecord.__dataclass_fields__)
STEP_COLUMNS: Final = tuple("step_id" if f == "id" else f for f in StepRecord.__dataclass_fields__)
ARTIFACT_COLUMNS: Final = tuple(ArtifactRecord.__dataclass_fields__)
CACHE_COLUMNS: Final = tuple(CacheEntry.__dataclass_fields__)
_IDLE_MAX = 5   # connections kept open between calls, as SQLAlchemy's pool_size


def file_path(url: str) -> str | None:
    """The database file of a plain `sqlite:///PATH` URL; None for any other URL (another
    driver, in-memory, query options), which SQLAlchemy handles."""
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        return None
    path = url[len(prefix):]
    if not path or "?" in path or path == ":memory:" or path.startswith("file:"):
        return None
    return unquote(path)   # as sqlalchemy.engine.url.make_url does


def check_sqlite_folder(database: str) -> None:
    """The folder of a SQLite database file must exist and be writable (WAL files live there)."""
    folder = Path(database).expanduser().resolve().parent
    if not folder.is_dir():
        raise ConfigError(
            f"folder {folder} for the SQLite metadata database {database} does not exist",
            hint="create it, or set FLOWYARD_HOME / FLOWYARD_DATABASE_URL to a writable place",
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(
            f"folder {folder} for the SQLite metadata database {database} is not writable",
            hint="fix its permissions, or set FLOWYARD_HOME / FLOWYARD_DATABASE_URL to a "
            "writable place",
        )


def _bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _to_column(column: str) -> Callable[[Any], Any] | None:
    if column in JSON_COLUMNS:
        return json_dumps
    if column in DATETIME_COLUMNS:
        return sqlite_datetime
    return None   # str, int and bool (sqlite3 stores True as 1) go as they are


def _from_column(column: str) -> Callable[[Any], Any] | None:
    if column in JSON_COLUMNS:
        return json_loads
    if column in DATETIME_COLUMNS:
        return sqlite_datetime_value
    if column in BOOL_COLUMNS:
        return _bool
    return None


def _writer(columns: Sequence[str], fields: Sequence[str]) -> Callable[[Any], list[Any]]:
    """record -> the statement's parameters, in column order."""
    get = attrgetter(*fields)
    convert = [(i, f) for i, c in enumerate(columns) if (f := _to_column(c)) is not None]

    def params(record: Any) -> list[Any]:
        values = list(get(record))
        for i, to_column in convert:
            values[i] = to_column(values[i])
        return values

    return params


def _reader(cls: Callable[..., R], columns: Sequence[str]) -> Callable[[Sequence[Any]], R]:
    convert = [(i, f) for i, c in enumerate(columns) if (f := _from_column(c)) is not None]

    def record(row: Sequence[Any]) -> R:
        values = list(row)
        for i, from_column in convert:
            values[i] = from_column(values[i])
        return cls(*values)

    return record


def _names(columns: Sequence[str]) -> str:
    return ", ".join(f'"{c}"' for c in columns)


def _insert(table: str, columns: Sequence[str]) -> str:
    return f"INSERT INTO {table} ({_names(columns)}) VALUES ({', '.join('?' * len(columns))})"


def _upsert(table: str, columns: Sequence[str], keys: Sequence[str]) -> str:
    changes = ", ".join(f'"{c}" = excluded."{c}"' for c in columns if c not in keys)
    return f"{_insert(table, columns)} ON CONFLICT ({_names(keys)}) DO UPDATE SET {changes}"


_run_params = _writer(RUN_COLUMNS, RUN_COLUMNS)
_step_params = _writer(STEP_COLUMNS, tuple(StepRecord.__dataclass_fields__))
_artifact_params = _writer(ARTIFACT_COLUMNS, ARTIFACT_COLUMNS)
_cache_params = _writer(CACHE_COLUMNS, CACHE_COLUMNS)
_run = _reader(RunRecord, RUN_COLUMNS)
_step = _reader(StepRecord, STEP_COLUMNS)
_artifact = _reader(ArtifactRecord, ARTIFACT_COLUMNS)
_cache = _reader(CacheEntry, CACHE_COLUMNS)

_INSERT_RUN = _insert("runs", RUN_COLUMNS)
_SELECT_RUN = f"SELECT {_names(RUN_COLUMNS)} FROM runs WHERE id = ?"
_RUN_EXISTS = "SELECT 1 FROM runs WHERE id = ?"
_UPSERT_STEP = _upsert("steps", STEP_COLUMNS, ("run_id", "step_id"))
_SELECT_STEPS = f"SELECT {_names(STEP_COLUMNS)} FROM steps WHERE run_id = ? ORDER BY seq"
_SELECT_STEP = f"SELECT {_names(STEP_COLUMNS)} FROM steps WHERE run_id = ? AND step_id = ?"
_DELETE_INPUTS = "DELETE FROM step_inputs WHERE run_id = ? AND step_id = ?"
_INSERT_INPUT = _insert("step_inputs", ("run_id", "step_id", "name", "artifact_id"))
_UPSERT_ARTIFACT = _upsert("artifacts", ARTIFACT_COLUMNS, ("id",))
_SELECT_ARTIFACTS = f"SELECT {_names(ARTIFACT_COLUMNS)} FROM artifacts"
_UPSERT_CACHE = _upsert("cache_entries", CACHE_COLUMNS, ("key",))
_SELECT_CACHE = f'SELECT {_names(CACHE_COLUMNS)} FROM cache_entries WHERE "key" = ?'


class NativeSQLite:
    """The hot half of `MetadataStore` on one SQLite file (see the module docstring)."""

    def __init__(self, path: str, url: str) -> None:
        self.path = path
        self.url = url
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        _STORES.add(self)

    # -- connections and transactions -------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: no implicit transactions; we BEGIN ourselves (see tx).
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                               check_same_thread=False)
        try:
            # NORMAL first: switching a new file to WAL then syncs once less (~4 ms here).
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA foreign_keys=ON")
        except BaseException:
            conn.close()
            raise
        return conn

    def _acquire(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreError(f"metadata store {self.url} is closed")
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return self._connect()

    def _release(self, conn: sqlite3.Connection) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < _IDLE_MAX and not conn.in_transaction:
                self._idle.append(conn)
                return
        conn.close()

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """sqlite3's errors as the SQLAlchemy path words them: Conflict or StoreError."""
        try:
            yield
        except FlowyardError:
            raise
        except sqlite3.IntegrityError as exc:
            raise Conflict(
                f"metadata store {self.url} refused the write: {exc}",
                hint="the record already exists or refers to a run that does not",
            ) from exc
        except sqlite3.Error as exc:
            hint = ("another process held the database's write lock for more than 30 s"
                    if "locked" in str(exc) else
                    "check that the database file is readable and writable")
            raise StoreError(f"metadata store {self.url} failed: {str(exc).strip()}",
                             hint=hint) from exc

    @contextmanager
    def tx(self, *, write: bool) -> Iterator[sqlite3.Connection]:
        """One transaction. Writers take the lock up front (BEGIN IMMEDIATE): a deferred one
        that upgrades later fails with "database is locked" without waiting."""
        with self._translated():
            conn = self._acquire()
            try:
                conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    yield conn
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        with contextlib.suppress(sqlite3.Error):
                            conn.execute("ROLLBACK")
                    raise
            finally:
                self._release(conn)

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """A connection for single-statement reads (each one sees a consistent snapshot)."""
        with self._translated():
            conn = self._acquire()
            try:
                yield conn
            finally:
                self._release(conn)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    # -- schema -----------------------------------------------------------------------------

    def revision(self) -> str | None:
        """The schema revision stamped in the database (None: none, or not readable)."""
        try:
            with self.reading() as conn:
                row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        except StoreError:
            return None
        return None if row is None else str(row[0])

    def create_schema_if_empty(self, statements: Sequence[str], revision: str) -> str | None:
        """Create the schema if the database has no table at all (under the write lock, so a
        concurrent first open waits and then finds it); returns the revision found or made."""
        with self.tx(write=True) as conn:
            tables = [r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'")]
            if "alembic_version" in tables:
                row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
                return None if row is None else str(row[0])
            if tables:
                return None   # someone else's tables: Alembic decides (see MetadataStore)
            for statement in statements:
                conn.execute(statement)
            conn.execute(
                "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
                "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))")
            conn.execute("INSERT INTO alembic_version (version_num) VALUES (?)", (revision,))
            return revision

    # -- runs -------------------------------------------------------------------------------

    def create_run(self, run: RunRecord, steps: Sequence[StepRecord]) -> bool:
        """Insert the run and its steps; False (nothing written) if the id is taken."""
        with self.tx(write=True) as conn:
            if conn.execute(_RUN_EXISTS, (run.id,)).fetchone() is not None:
                return False
            conn.execute(_INSERT_RUN, _run_params(run))
            _write_steps(conn, steps)
        return True

    def get_run(self, run_id: str) -> RunRecord | None:
        with self.reading() as conn:
            row = conn.execute(_SELECT_RUN, (run_id,)).fetchone()
        return None if row is None else _run(row)

    def update_run(self, run_id: str, fields: dict[str, Any]) -> RunRecord | None:
        """Change `fields` (names already checked) and return the record; None if no run."""
        names = list(fields)
        values = [fields[n] if (f := _to_column(n)) is None else f(fields[n]) for n in names]
        with self.tx(write=True) as conn:
            if names:
                changes = ", ".join(f'"{n}" = ?' for n in names)
                done = conn.execute(f"UPDATE runs SET {changes} WHERE id = ?", [*values, run_id])
                if done.rowcount == 0:
                    return None
            row = conn.execute(_SELECT_RUN, (run_id,)).fetchone()
        return None if row is None else _run(row)

    def run_exists(self, run_id: str) -> bool:
        with self.reading() as conn:
            return conn.execute(_RUN_EXISTS, (run_id,)).fetchone() is not None

    # -- steps ------------------------------------------------------------------------------

    def get_steps(self, run_id: str) -> list[StepRecord]:
        with self.reading() as conn:
            rows = conn.execute(_SELECT_STEPS, (run_id,)).fetchall()
        return [_step(row) for row in rows]

    def get_step(self, run_id: str, step_id: str) -> StepRecord | None:
        with self.reading() as conn:
            row = conn.execute(_SELECT_STEP, (run_id, step_id)).fetchone()
        return None if row is None else _step(row)

    def write(self, steps: Sequence[StepRecord], artifacts: Sequence[ArtifactRecord] = (),
              caches: Sequence[CacheEntry] = ()) -> None:
        """Steps, artifacts and cache entries, inserted or replaced in one transaction."""
        # Parameters first: a value that is not JSON fails before the lock is taken.
        arts = [_artifact_params(a) for a in artifacts]
        entries = [_cache_params(c) for c in caches]
        with self.tx(write=True) as conn:
            _write_steps(conn, steps)
            if arts:
                conn.executemany(_UPSERT_ARTIFACT, arts)
            if entries:
                conn.executemany(_UPSERT_CACHE, entries)

    # -- artifacts and cache ----------------------------------------------------------------

    def get_artifact(self, artifact_id: str) -> ArtifactRecord | None:
        with self.reading() as conn:
            row = conn.execute(f"{_SELECT_ARTIFACTS} WHERE id = ?", (artifact_id,)).fetchone()
        return None if row is None else _artifact(row)

    def list_artifacts(self, run_id: str | None, digest: str | None) -> list[ArtifactRecord]:
        where, params = [], []
        if run_id is not None:
            where.append("run_id = ?")
            params.append(run_id)
        if digest is not None:
            where.append("digest = ?")
            params.append(digest)
        query = _SELECT_ARTIFACTS + (" WHERE " + " AND ".join(where) if where else "")
        with self.reading() as conn:
            rows = conn.execute(query + " ORDER BY created_at, id", params).fetchall()
        return [_artifact(row) for row in rows]

    def cache_get(self, key: str) -> CacheEntry | None:
        with self.reading() as conn:
            row = conn.execute(_SELECT_CACHE, (key,)).fetchone()
        return None if row is None else _cache(row)


def _write_steps(conn: sqlite3.Connection, steps: Sequence[StepRecord]) -> None:
    if not steps:
        return
    conn.executemany(_UPSERT_STEP, [_step_params(s) for s in steps])
    # As on the SQLAlchemy path: a step without input artifacts never had rows to replace.
    replaced = [(s.run_id, s.id) for s in steps if s.input_artifacts]
    if replaced:
        conn.executemany(_DELETE_INPUTS, replaced)
        conn.executemany(_INSERT_INPUT, [(s.run_id, s.id, name, artifact_id)
                                         for s in steps
                                         for name, artifact_id in s.input_artifacts.items()])


_STORES: weakref.WeakSet[NativeSQLite] = weakref.WeakSet()
_INHERITED: list[sqlite3.Connection] = []


def _after_fork_in_child() -> None:
    # A forked child opens its own connections. The parent's are kept referenced, never
    # closed: closing an inherited SQLite connection can checkpoint or remove the WAL under
    # the parent's feet (SQLite's own advice: do not carry a connection across fork()).
    for store in list(_STORES):
        store._lock = threading.Lock()   # another thread may have held it at fork time
        _INHERITED.extend(store._idle)
        store._idle = []


os.register_at_fork(after_in_child=_after_fork_in_child)
