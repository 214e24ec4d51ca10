"""The metadata store: runs, steps, artifacts, lineage, the step cache and generic resources.

One interface, two ways to the database. PostgreSQL and every SQLite URL but a plain file go
through SQLAlchemy Core (sql_store.py). A plain `sqlite:///FILE` (the embedded default) sends
what running a pipeline does - runs, steps, artifacts, the cache - through the standard
library's sqlite3 (native_sqlite.py), so that a `flowyard run` never imports SQLAlchemy;
listings, resources and the data and login tables load it on first use, on the same file.
This class owns the checks and the errors, so both ways answer alike.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Final

from flowyard.errors import ConfigError, Conflict, InvalidInput, NotFound, StoreError
from flowyard.store import native_sqlite
from flowyard.store.records import (
    RUN_FIELDS,
    RUN_STATES,
    STEP_STATES,
    ArtifactRecord,
    CacheEntry,
    RunRecord,
    StepRecord,
)

if TYPE_CHECKING:
    import sqlite3
    from datetime import datetime

    from sqlalchemy import Connection, Engine

    from flowyard.settings import Settings
    from flowyard.store.sql_store import SqlStore

HEAD_REVISION: Final = "0005"
"""The newest migration in migrations/versions (a test keeps this in sync with Alembic)."""
KNOWN_REVISIONS: Final = ("0001", "0002", "0003", "0004", "0005")


class MetadataStore:
    """Runs, steps, artifacts and the cache in a SQL database (SQLite or PostgreSQL)."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self._closed = False
        self._sql_lock = threading.Lock()
        self._sql_store: SqlStore | None = None
        self._native: native_sqlite.NativeSQLite | None = None
        path = native_sqlite.file_path(url)
        if path is not None:
            native_sqlite.check_sqlite_folder(path)
            self.url = url   # a SQLite URL has no password to hide
            self._sqlite = True
            self._native = native_sqlite.NativeSQLite(path, url)
        else:
            from flowyard.store.sql_store import SqlStore

            self._sql_store = SqlStore(url)
            self.url = self._sql_store.url
            self._sqlite = self._sql_store.sqlite
        if migrate:
            self._migrate()

    @classmethod
    def from_settings(cls, settings: Settings) -> MetadataStore:
        if not settings.database_url:
            settings.ensure_home()
        return cls(settings.resolved_database_url())

    # -- the two ways in ---------------------------------------------------------------------

    @property
    def _sql(self) -> SqlStore:
        """The SQLAlchemy side, made on first use for a native SQLite store."""
        if self._sql_store is None:
            from flowyard.store.sql_store import SqlStore

            with self._sql_lock:   # threads of a server may all ask at once
                self._check_open()
                if self._sql_store is None:
                    self._sql_store = SqlStore(self.url)
        return self._sql_store

    @property
    def _hot(self) -> native_sqlite.NativeSQLite | SqlStore:
        """Where the calls of a pipeline run go."""
        self._check_open()
        return self._native if self._native is not None else self._sql

    @property
    def _engine(self) -> Engine:
        return self._sql.engine

    def _tx(self, *, write: bool) -> AbstractContextManager[Connection]:
        """One SQLAlchemy transaction (the data, login and volume tables use it); database
        errors leave as StoreError/Conflict naming the URL."""
        return self._sql.tx(write=write)

    @property
    def is_sqlite_file(self) -> bool:
        """Whether sqlite_reading() is there: the database is a plain SQLite file."""
        return self._native is not None

    def sqlite_reading(self) -> AbstractContextManager[sqlite3.Connection]:
        """A standard-library sqlite3 connection for reads on a plain SQLite file: read paths
        that must start fast (a data put that changes nothing, see flowyard.data.heads) use
        it so as not to import SQLAlchemy."""
        self._check_open()
        if self._native is None:
            raise StoreError(f"metadata store {self.url} is not a plain SQLite file",
                             hint="check is_sqlite_file first")
        return self._native.reading()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"metadata store {self.url} is closed")

    def close(self) -> None:
        with self._sql_lock:
            self._closed = True
        if self._native is not None:
            self._native.close()
        if self._sql_store is not None:
            self._sql_store.close()

    def __enter__(self) -> MetadataStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema -----------------------------------------------------------------------------

    def _migrate(self) -> None:
        if self._native is not None:
            current = self._native.revision()
            if current == HEAD_REVISION:
                return
            self._check_known(current)
            from flowyard.store.sqlite_schema import STATEMENTS

            current = self._native.create_schema_if_empty(STATEMENTS, HEAD_REVISION)
            if current == HEAD_REVISION:
                return
            self._check_known(current)   # an older or foreign database: Alembic below
        self._migrate_with_sqlalchemy()

    def _migrate_with_sqlalchemy(self) -> None:
        try:
            current = self._sql.current_revision()
        except Exception:
            current = None
        if current == HEAD_REVISION:
            return
        self._check_known(current)
        with self._tx(write=True) as conn:
            if conn.dialect.name == "postgresql":
                # Serialise concurrent first opens; SQLite's BEGIN IMMEDIATE already does.
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7031975)")
            row = None
            if conn.dialect.has_table(conn, "alembic_version"):
                row = conn.exec_driver_sql("SELECT version_num FROM alembic_version").first()
            current = None if row is None else str(row[0])
            self._check_known(current)
            if current is None and not conn.dialect.get_table_names(conn):
                # An empty database: create the head schema directly. Alembic (its import and
                # running every migration) costs ~0.1 s, a third of a first `flowyard run`.
                create_head_schema(conn)
            elif current != HEAD_REVISION:
                upgrade_to_head(conn)

    def _check_known(self, current: str | None) -> None:
        if current is not None and current not in KNOWN_REVISIONS:
            raise ConfigError(
                f"metadata database {self.url} is at schema revision {current!r}, which this "
                f"Flowyard does not know (it knows up to {HEAD_REVISION!r})",
                hint="upgrade Flowyard, or point FLOWYARD_DATABASE_URL at another database",
            )

    # -- runs -------------------------------------------------------------------------------

    def create_run(self, run: RunRecord, steps: Sequence[StepRecord] = ()) -> None:
        """Insert a run and its initial steps in one transaction."""
        if run.state not in RUN_STATES:
            raise _bad_state(f"run '{run.id}'", run.state, RUN_STATES)
        for s in steps:
            if s.run_id != run.id:
                raise InvalidInput(
                    f"step '{s.id}' has run_id {s.run_id!r} but is created with run {run.id!r}",
                    hint="set StepRecord.run_id to the run's id",
                )
        _check_step_states(steps)
        if not self._hot.create_run(run, steps):
            raise Conflict(f"run '{run.id}' already exists", hint="pick another run id")

    def get_run(self, run_id: str) -> RunRecord:
        run = self._hot.get_run(run_id)
        if run is None:
            raise _run_not_found(run_id)
        return run

    def list_runs(
        self,
        *,
        namespace: str | None = None,
        pipeline: str | None = None,
        state: str | None = None,
        limit: int = 50,
        offset: int = 0,
        after: tuple[datetime, str] | None = None,
        snapshot: bool = True,
    ) -> list[RunRecord]:
        """Runs newest first, optionally filtered; `after` (created_at, id) of the last run
        of the previous page continues there (keyset paging: deep pages cost no more).
        snapshot=False leaves out the pipeline snapshot (`pipeline` is {}): parsing it is
        most of the cost of a page of listings, which do not show it."""
        if state is not None and state not in RUN_STATES:
            raise _bad_state("list_runs(state=...)", state, RUN_STATES)
        return self._sql.list_runs(namespace=namespace, pipeline=pipeline, state=state,
                                   limit=limit, offset=offset, after=after, snapshot=snapshot)

    def update_run(self, run_id: str, **fields: Any) -> RunRecord:
        """Change some fields of a run and return the updated record."""
        unknown = sorted(set(fields) - RUN_FIELDS) + (["id"] if "id" in fields else [])
        if unknown:
            allowed = ", ".join(sorted(RUN_FIELDS - {"id"}))
            raise TypeError(
                f"update_run() got unknown field(s) {', '.join(unknown)}; allowed: {allowed}"
            )
        if "state" in fields and fields["state"] not in RUN_STATES:
            raise _bad_state(f"run '{run_id}'", fields["state"], RUN_STATES)
        run = self._hot.update_run(run_id, fields)
        if run is None:
            raise _run_not_found(run_id)
        return run

    def delete_run(self, run_id: str) -> None:
        """Delete a run with its steps, artifacts records and cache entries (not the blobs)."""
        if not self._sql.delete_run(run_id):
            raise _run_not_found(run_id)

    # -- steps ------------------------------------------------------------------------------

    def get_steps(self, run_id: str) -> list[StepRecord]:
        """The run's steps in creation order."""
        hot = self._hot
        steps = hot.get_steps(run_id)
        if not steps and not hot.run_exists(run_id):
            raise _run_not_found(run_id)
        return steps

    def get_step(self, run_id: str, step_id: str) -> StepRecord:
        hot = self._hot
        step = hot.get_step(run_id, step_id)
        if step is None:
            if not hot.run_exists(run_id):
                raise _run_not_found(run_id)
            raise NotFound(
                f"step '{step_id}' not found in run '{run_id}'",
                hint="step ids are the step name, or name[i] for loop iteration i",
            )
        return step

    def save_step(self, step: StepRecord) -> None:
        """Insert or update one step (by run_id and id)."""
        self.write_batch((step,))

    def save_steps(self, steps: Sequence[StepRecord]) -> None:
        """Insert or update many steps in one transaction."""
        self.write_batch(steps)

    def finish_step(
        self,
        step: StepRecord,
        artifacts: Sequence[ArtifactRecord] = (),
        cache: CacheEntry | None = None,
    ) -> None:
        """Save the step, its output artifacts and its cache entry atomically."""
        self.write_batch((step,), artifacts, () if cache is None else (cache,))

    def write_batch(
        self,
        steps: Sequence[StepRecord],
        artifacts: Sequence[ArtifactRecord] = (),
        caches: Sequence[CacheEntry] = (),
    ) -> None:
        """Several scheduler writes (`save_step`s and `finish_step`s) in one transaction.

        The transaction's fixed cost (BEGIN IMMEDIATE, COMMIT) is most of a small write, so
        the engine gathers what one turn of its loop changed.
        """
        _check_step_states(steps)
        self._hot.write(steps, artifacts, caches)

    # -- artifacts and lineage --------------------------------------------------------------

    def get_artifact(self, artifact_id: str) -> ArtifactRecord:
        artifact = self._hot.get_artifact(artifact_id)
        if artifact is None:
            raise NotFound(
                f"artifact '{artifact_id}' not found",
                hint="check the artifact id; a step's output_artifacts map names to artifact ids",
            )
        return artifact

    def list_artifacts(
        self, *, run_id: str | None = None, digest: str | None = None
    ) -> list[ArtifactRecord]:
        return self._hot.list_artifacts(run_id, digest)

    def artifact_consumers(self, artifact_id: str) -> list[tuple[str, str]]:
        """(run_id, step_id) of every step that read the artifact."""
        return self._sql.artifact_consumers(artifact_id)

    # -- cache ------------------------------------------------------------------------------

    def cache_get(self, key: str) -> CacheEntry | None:
        return self._hot.cache_get(key)

    def cache_put(self, entry: CacheEntry) -> None:
        self._hot.write((), (), (entry,))

    def cache_clear(self) -> int:
        """Forget every cache entry; returns how many there were."""
        return self._sql.cache_clear()

    # -- generic resources ------------------------------------------------------------------

    def put_resource(self, kind: str, namespace: str, name: str, body: dict[str, Any]) -> int:
        """Create or replace a resource; returns its generation (bumped when spec changes)."""
        return self._sql.put_resource(kind, namespace, name, body)

    def get_resource(self, kind: str, namespace: str, name: str) -> dict[str, Any]:
        body = self._sql.get_resource(kind, namespace, name)
        if body is None:
            raise _resource_not_found(kind, namespace, name)
        return body

    def list_resources(
        self, kind: str, namespace: str | None = None, labels: dict[str, str] | None = None
    ) -> list[dict[str, Any]]:
        """Resources of one kind, by namespace then name; `labels` must all match."""
        bodies = self._sql.list_resources(kind, namespace)
        if labels:
            bodies = [b for b in bodies if _labels_match(b, labels)]
        return bodies

    def delete_resource(self, kind: str, namespace: str, name: str) -> None:
        if not self._sql.delete_resource(kind, namespace, name):
            raise _resource_not_found(kind, namespace, name)


_STEP_STATE_SET = frozenset(STEP_STATES)


def _check_step_states(steps: Sequence[StepRecord]) -> None:
    for s in steps:
        if s.state not in _STEP_STATE_SET:
            raise _bad_state(f"step '{s.id}' of run '{s.run_id}'", s.state, STEP_STATES)


def _bad_state(where: str, state: object, allowed: Sequence[str]) -> InvalidInput:
    return InvalidInput(
        f"{where}: state {state!r} is not one of {', '.join(allowed)}",
        hint="use the constants in flowyard.store.records",
    )


def _labels_match(body: dict[str, Any], labels: dict[str, str]) -> bool:
    have = (body.get("metadata") or {}).get("labels") or {}
    return all(have.get(k) == v for k, v in labels.items())


def _run_not_found(run_id: str) -> NotFound:
    return NotFound(f"run '{run_id}' not found", hint="flowyard runs list")


def _resource_not_found(kind: str, namespace: str, name: str) -> NotFound:
    return NotFound(
        f"{kind} '{name}' not found in namespace '{namespace}'",
        hint="check the kind, namespace and name",
    )


def create_head_schema(conn: Connection) -> None:
    """Create every table at HEAD_REVISION in an empty database, stamped as Alembic would.

    Same result as `upgrade_to_head` on an empty database (a store test compares the two).
    """
    from sqlalchemy import text

    from flowyard.store import schema as t

    t.metadata.create_all(conn, checkfirst=False)
    conn.exec_driver_sql(
        "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
        "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
    )
    conn.execute(
        text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": HEAD_REVISION}
    )


def upgrade_to_head(conn: Connection) -> None:
    """Run the packaged Alembic migrations on `conn` (inside the caller's transaction)."""
    from pathlib import Path

    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "head")

