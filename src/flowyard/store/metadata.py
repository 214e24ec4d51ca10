"""The metadata store: runs, steps, artifacts, lineage, the step cache and generic resources.

SQLAlchemy Core over one Engine (SQLite in WAL mode by default, PostgreSQL for the
platform). The hot calls (`save_step`, `finish_step`) are a handful of pre-built statements
in one short transaction each; no ORM session is involved.
"""

from __future__ import annotations

import json
import os
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    create_engine,
    delete,
    event,
    literal,
    make_url,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, StatementError
from sqlalchemy.pool import StaticPool

from flowyard.errors import ConfigError, Conflict, FlowyardError, InvalidInput, NotFound, StoreError
from flowyard.store import schema as t
from flowyard.store.records import (
    RUN_FIELDS,
    RUN_STATES,
    STEP_STATES,
    ArtifactRecord,
    CacheEntry,
    RunRecord,
    StepRecord,
    utcnow,
)

if TYPE_CHECKING:
    from datetime import datetime

    from flowyard.settings import Settings

HEAD_REVISION: Final = "0004"
"""The newest migration in migrations/versions (a test keeps this in sync with Alembic)."""
KNOWN_REVISIONS: Final = ("0001", "0002", "0003", "0004")

_RUN_COLUMNS = [t.runs.c[name] for name in RunRecord.__dataclass_fields__]
_RUN_COLUMNS_LIGHT = [literal(None).label("pipeline") if c.name == "pipeline" else c
                      for c in _RUN_COLUMNS]
_STEP_COLUMNS = [
    t.steps.c["step_id" if name == "id" else name] for name in StepRecord.__dataclass_fields__
]
_ARTIFACT_COLUMNS = [t.artifacts.c[name] for name in ArtifactRecord.__dataclass_fields__]
_CACHE_COLUMNS = [t.cache_entries.c[name] for name in CacheEntry.__dataclass_fields__]


def _run_row(run: RunRecord) -> dict[str, Any]:
    return {name: getattr(run, name) for name in RUN_FIELDS}


def _step_row(s: StepRecord) -> dict[str, Any]:
    return {
        "run_id": s.run_id,
        "step_id": s.id,
        "name": s.name,
        "iteration": s.iteration,
        "component": s.component,
        "state": s.state,
        "attempt": s.attempt,
        "started_at": s.started_at,
        "finished_at": s.finished_at,
        "cache_hit": s.cache_hit,
        "cache_key": s.cache_key,
        "inputs": s.inputs,
        "outputs": s.outputs,
        "input_artifacts": s.input_artifacts,
        "output_artifacts": s.output_artifacts,
        "exit_code": s.exit_code,
        "error": s.error,
        "log_path": s.log_path,
        "log_digest": s.log_digest,
        "resources": s.resources,
        "pid": s.pid,
    }


def _artifact_row(a: ArtifactRecord) -> dict[str, Any]:
    return {
        "id": a.id,
        "run_id": a.run_id,
        "step_id": a.step_id,
        "name": a.name,
        "type": a.type,
        "digest": a.digest,
        "size": a.size,
        "is_tree": a.is_tree,
        "uri": a.uri,
        "metadata": a.metadata,
        "created_at": a.created_at,
    }


def _cache_row(e: CacheEntry) -> dict[str, Any]:
    return {
        "key": e.key,
        "run_id": e.run_id,
        "step_id": e.step_id,
        "outputs": e.outputs,
        "output_artifacts": e.output_artifacts,
        "created_at": e.created_at,
    }


def _json_dumps(value: Any) -> str:
    # Used by the engine for every JSON column, so the error is the same on every backend.
    if not value and type(value) in (dict, list):
        return "{}" if type(value) is dict else "[]"   # most step columns; json.dumps: ~3 µs
    try:
        return json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"value cannot be stored in the metadata store: {exc}",
            hint="record fields must hold JSON values (str, int, float, bool, None, list, dict)",
        ) from exc


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


class MetadataStore:
    """Runs, steps, artifacts and the cache in a SQL database (SQLite or PostgreSQL)."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        try:
            self._url: URL = make_url(url)
        except ArgumentError as exc:
            raise ConfigError(
                f"metadata database URL {url!r} is not a valid SQLAlchemy URL",
                hint="use e.g. sqlite:////path/flowyard.db or "
                "postgresql+psycopg://user@host:5432/db (FLOWYARD_DATABASE_URL)",
            ) from exc
        self.url = self._url.render_as_string(hide_password=True)
        self._sqlite = self._url.get_backend_name() == "sqlite"
        if self._url.get_backend_name() not in ("sqlite", "postgresql"):
            raise ConfigError(
                f"metadata database {self.url} is not supported",
                hint="use SQLite (sqlite:///path) or PostgreSQL (postgresql+psycopg://...)",
            )
        self._engine = self._make_engine()
        _ENGINES.add(self._engine)
        self._closed = False
        self._prepare_statements()
        if migrate:
            self._migrate()

    @classmethod
    def from_settings(cls, settings: Settings) -> MetadataStore:
        if not settings.database_url:
            settings.ensure_home()
        return cls(settings.resolved_database_url())

    # -- engine and transactions ------------------------------------------------------------

    def _make_engine(self) -> Engine:
        url = self._url
        try:
            if self._sqlite:
                return self._make_sqlite_engine(url)
            connect_args: dict[str, Any] = {}
            if url.get_backend_name() == "postgresql":
                connect_args["connect_timeout"] = 10
            return create_engine(
                url,
                pool_size=5,
                max_overflow=10,
                pool_pre_ping=True,
                connect_args=connect_args,
                json_serializer=_json_dumps,
            )
        except (ArgumentError, ImportError) as exc:
            raise ConfigError(
                f"cannot use metadata database {self.url}: {exc}",
                hint="PostgreSQL needs the driver: pip install 'flowyard[postgres]' and a "
                "postgresql+psycopg:// URL",
            ) from exc

    def _make_sqlite_engine(self, url: URL) -> Engine:
        database = url.database
        memory = not database or database == ":memory:" or database.startswith("file::memory:")
        if not memory:
            assert database is not None
            folder = Path(database).expanduser().resolve().parent
            if not folder.is_dir():
                raise ConfigError(
                    f"folder {folder} for the SQLite metadata database {database} does not exist",
                    hint="create it, or set FLOWYARD_HOME / FLOWYARD_DATABASE_URL to a writable "
                    "place",
                )
            if not os.access(folder, os.W_OK | os.X_OK):
                raise ConfigError(
                    f"folder {folder} for the SQLite metadata database {database} is not writable",
                    hint="fix its permissions, or set FLOWYARD_HOME / FLOWYARD_DATABASE_URL to a "
                    "writable place",
                )
            engine = create_engine(
                url,
                pool_size=5,
                max_overflow=10,
                connect_args={"timeout": 30},
                json_serializer=_json_dumps,
            )
        else:
            # One shared connection, else every checkout would see its own empty database.
            engine = create_engine(
                url,
                poolclass=StaticPool,
                connect_args={"check_same_thread": False},
                json_serializer=_json_dumps,
            )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # Hand transaction control to us (the begin hook) instead of pysqlite's guesswork.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            if not memory:
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            # Writers take the lock up front: a deferred transaction that later upgrades to a
            # write lock fails with "database is locked" without waiting for busy_timeout.
            write = conn.get_execution_options().get("flowyard_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine

    @contextmanager
    def _tx(self, *, write: bool) -> Iterator[Connection]:
        """One transaction; database errors leave as StoreError/Conflict naming the URL."""
        if self._closed:
            raise StoreError(f"metadata store {self.url} is closed")
        try:
            with self._engine.connect() as conn:
                if write:
                    conn.execution_options(flowyard_write=True)
                with conn.begin():
                    yield conn
        except FlowyardError:
            raise
        except IntegrityError as exc:
            raise Conflict(
                f"metadata store {self.url} refused the write: {exc.orig}",
                hint="the record already exists or refers to a run that does not",
            ) from exc
        except DBAPIError as exc:
            raise StoreError(
                f"metadata store {self.url} failed: {str(exc.orig).strip()}",
                hint=self._hint(exc),
            ) from exc
        except StatementError as exc:
            if isinstance(exc.orig, FlowyardError):
                raise exc.orig from exc
            raise StoreError(f"metadata store {self.url} failed: {exc}") from exc

    def _hint(self, exc: DBAPIError) -> str:
        if self._sqlite and "locked" in str(exc.orig):
            return "another process held the database's write lock for more than 30 s"
        if self._sqlite:
            return "check that the database file is readable and writable"
        return "check that the database server is running and FLOWYARD_DATABASE_URL is right"

    def close(self) -> None:
        self._closed = True
        self._engine.dispose()

    def __enter__(self) -> MetadataStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema -----------------------------------------------------------------------------

    def _current_revision(self) -> str | None:
        try:
            with self._engine.connect() as conn:
                row = conn.exec_driver_sql("SELECT version_num FROM alembic_version").first()
                conn.rollback()
        except DBAPIError:
            return None
        return None if row is None else str(row[0])

    def _migrate(self) -> None:
        try:
            current = self._current_revision()
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

    # -- statements -------------------------------------------------------------------------

    def _prepare_statements(self) -> None:
        # Both dialects' Insert offer on_conflict_do_update/do_nothing with the same shape.
        ins: Callable[[Table], Any]
        if self._sqlite:
            ins = sqlite.insert
        else:
            # Imported here: the PostgreSQL dialect (and asyncio, via asyncpg) costs ~15 ms at
            # import, which a local SQLite run never needs.
            from sqlalchemy.dialects import postgresql

            ins = postgresql.insert
        step_upsert = ins(t.steps)
        self._upsert_step = step_upsert.on_conflict_do_update(
            index_elements=[t.steps.c.run_id, t.steps.c.step_id],
            set_={
                c.name: step_upsert.excluded[c.name]
                for c in t.steps.c
                if c.name not in ("seq", "run_id", "step_id")
            },
        )
        art_upsert = ins(t.artifacts)
        self._upsert_artifact = art_upsert.on_conflict_do_update(
            index_elements=[t.artifacts.c.id],
            set_={c.name: art_upsert.excluded[c.name] for c in t.artifacts.c if c.name != "id"},
        )
        cache_upsert = ins(t.cache_entries)
        self._upsert_cache = cache_upsert.on_conflict_do_update(
            index_elements=[t.cache_entries.c.key],
            set_={
                c.name: cache_upsert.excluded[c.name] for c in t.cache_entries.c if c.name != "key"
            },
        )
        self._delete_inputs = delete(t.step_inputs).where(
            t.step_inputs.c.run_id == _bind("b_run_id"),
            t.step_inputs.c.step_id == _bind("b_step_id"),
        )
        self._insert_inputs = t.step_inputs.insert()
        self._insert_resource = ins(t.resources).on_conflict_do_nothing(
            index_elements=[t.resources.c.kind, t.resources.c.namespace, t.resources.c.name]
        )

    def _write_steps(self, conn: Connection, steps: Sequence[StepRecord]) -> None:
        if not steps:
            return
        for s in steps:
            if s.state not in _STEP_STATE_SET:
                raise _bad_state(f"step '{s.id}' of run '{s.run_id}'", s.state, STEP_STATES)
        conn.execute(self._upsert_step, [_step_row(s) for s in steps])
        # A step's input artifacts are named by its component, so a step without any never
        # had rows to replace; skipping the DELETE saves a statement per scheduler write.
        replaced = [{"b_run_id": s.run_id, "b_step_id": s.id} for s in steps if s.input_artifacts]
        if replaced:
            conn.execute(self._delete_inputs, replaced)
        inputs = [
            {"run_id": s.run_id, "step_id": s.id, "name": name, "artifact_id": artifact_id}
            for s in steps
            for name, artifact_id in s.input_artifacts.items()
        ]
        if inputs:
            conn.execute(self._insert_inputs, inputs)

    def _require_run(self, conn: Connection, run_id: str) -> None:
        if conn.execute(select(t.runs.c.id).where(t.runs.c.id == run_id)).first() is None:
            raise _run_not_found(run_id)

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
        with self._tx(write=True) as conn:
            if conn.execute(select(t.runs.c.id).where(t.runs.c.id == run.id)).first():
                raise Conflict(f"run '{run.id}' already exists", hint="pick another run id")
            conn.execute(t.runs.insert(), _run_row(run))
            self._write_steps(conn, steps)

    def get_run(self, run_id: str) -> RunRecord:
        with self._tx(write=False) as conn:
            row = conn.execute(select(*_RUN_COLUMNS).where(t.runs.c.id == run_id)).first()
        if row is None:
            raise _run_not_found(run_id)
        return RunRecord(*row)

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
        columns = _RUN_COLUMNS if snapshot else _RUN_COLUMNS_LIGHT
        query = select(*columns)
        if after is not None:
            created, last = after
            query = query.where(tuple_(t.runs.c.created_at, t.runs.c.id) < tuple_(created, last))
        if namespace is not None:
            query = query.where(t.runs.c.namespace == namespace)
        if pipeline is not None:
            query = query.where(t.runs.c.pipeline_name == pipeline)
        if state is not None:
            query = query.where(t.runs.c.state == state)
        query = query.order_by(t.runs.c.created_at.desc(), t.runs.c.id.desc())
        query = query.limit(limit).offset(offset)
        with self._tx(write=False) as conn:
            records = [RunRecord(*row) for row in conn.execute(query)]
        if not snapshot:
            for record in records:
                record.pipeline = {}  # selected as NULL
        return records

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
        with self._tx(write=True) as conn:
            if fields:
                result = conn.execute(update(t.runs).where(t.runs.c.id == run_id).values(**fields))
                if result.rowcount == 0:
                    raise _run_not_found(run_id)
            row = conn.execute(select(*_RUN_COLUMNS).where(t.runs.c.id == run_id)).first()
        if row is None:
            raise _run_not_found(run_id)
        return RunRecord(*row)

    def delete_run(self, run_id: str) -> None:
        """Delete a run with its steps, artifacts records and cache entries (not the blobs)."""
        with self._tx(write=True) as conn:
            # Explicit deletes as well as ON DELETE CASCADE: SQLite connections opened by
            # other tools may run with foreign keys off.
            conn.execute(delete(t.step_inputs).where(t.step_inputs.c.run_id == run_id))
            conn.execute(delete(t.cache_entries).where(t.cache_entries.c.run_id == run_id))
            conn.execute(delete(t.artifacts).where(t.artifacts.c.run_id == run_id))
            conn.execute(delete(t.steps).where(t.steps.c.run_id == run_id))
            result = conn.execute(delete(t.runs).where(t.runs.c.id == run_id))
            if result.rowcount == 0:
                raise _run_not_found(run_id)

    # -- steps ------------------------------------------------------------------------------

    def get_steps(self, run_id: str) -> list[StepRecord]:
        """The run's steps in creation order."""
        query = select(*_STEP_COLUMNS).where(t.steps.c.run_id == run_id).order_by(t.steps.c.seq)
        with self._tx(write=False) as conn:
            rows = conn.execute(query).all()
            if not rows:
                self._require_run(conn, run_id)
        return [StepRecord(*row) for row in rows]

    def get_step(self, run_id: str, step_id: str) -> StepRecord:
        query = select(*_STEP_COLUMNS).where(
            t.steps.c.run_id == run_id, t.steps.c.step_id == step_id
        )
        with self._tx(write=False) as conn:
            row = conn.execute(query).first()
            if row is None:
                self._require_run(conn, run_id)
        if row is None:
            raise NotFound(
                f"step '{step_id}' not found in run '{run_id}'",
                hint="step ids are the step name, or name[i] for loop iteration i",
            )
        return StepRecord(*row)

    def save_step(self, step: StepRecord) -> None:
        """Insert or update one step (by run_id and id)."""
        with self._tx(write=True) as conn:
            self._write_steps(conn, (step,))

    def save_steps(self, steps: Sequence[StepRecord]) -> None:
        """Insert or update many steps in one transaction."""
        with self._tx(write=True) as conn:
            self._write_steps(conn, steps)

    def finish_step(
        self,
        step: StepRecord,
        artifacts: Sequence[ArtifactRecord] = (),
        cache: CacheEntry | None = None,
    ) -> None:
        """Save the step, its output artifacts and its cache entry atomically."""
        with self._tx(write=True) as conn:
            self._write_steps(conn, (step,))
            if artifacts:
                conn.execute(self._upsert_artifact, [_artifact_row(a) for a in artifacts])
            if cache is not None:
                conn.execute(self._upsert_cache, _cache_row(cache))

    def write_batch(
        self,
        steps: Sequence[StepRecord],
        artifacts: Sequence[ArtifactRecord] = (),
        caches: Sequence[CacheEntry] = (),
    ) -> None:
        """Several scheduler writes (`save_step`s and `finish_step`s) in one transaction.

        The transaction's fixed cost (pool checkout, BEGIN IMMEDIATE, COMMIT, reset) is most
        of a small write, so the engine gathers what one turn of its loop changed.
        """
        with self._tx(write=True) as conn:
            self._write_steps(conn, steps)
            if artifacts:
                conn.execute(self._upsert_artifact, [_artifact_row(a) for a in artifacts])
            if caches:
                conn.execute(self._upsert_cache, [_cache_row(c) for c in caches])

    # -- artifacts and lineage --------------------------------------------------------------

    def get_artifact(self, artifact_id: str) -> ArtifactRecord:
        query = select(*_ARTIFACT_COLUMNS).where(t.artifacts.c.id == artifact_id)
        with self._tx(write=False) as conn:
            row = conn.execute(query).first()
        if row is None:
            raise NotFound(
                f"artifact '{artifact_id}' not found",
                hint="check the artifact id; a step's output_artifacts map names to artifact ids",
            )
        return ArtifactRecord(*row)

    def list_artifacts(
        self, *, run_id: str | None = None, digest: str | None = None
    ) -> list[ArtifactRecord]:
        query = select(*_ARTIFACT_COLUMNS)
        if run_id is not None:
            query = query.where(t.artifacts.c.run_id == run_id)
        if digest is not None:
            query = query.where(t.artifacts.c.digest == digest)
        query = query.order_by(t.artifacts.c.created_at, t.artifacts.c.id)
        with self._tx(write=False) as conn:
            return [ArtifactRecord(*row) for row in conn.execute(query)]

    def artifact_consumers(self, artifact_id: str) -> list[tuple[str, str]]:
        """(run_id, step_id) of every step that read the artifact."""
        si = t.step_inputs
        query = (
            select(si.c.run_id, si.c.step_id)
            .where(si.c.artifact_id == artifact_id)
            .distinct()
            .order_by(si.c.run_id, si.c.step_id)
        )
        with self._tx(write=False) as conn:
            return [(str(r[0]), str(r[1])) for r in conn.execute(query)]

    # -- cache ------------------------------------------------------------------------------

    def cache_get(self, key: str) -> CacheEntry | None:
        query = select(*_CACHE_COLUMNS).where(t.cache_entries.c.key == key)
        with self._tx(write=False) as conn:
            row = conn.execute(query).first()
        return None if row is None else CacheEntry(*row)

    def cache_put(self, entry: CacheEntry) -> None:
        with self._tx(write=True) as conn:
            conn.execute(self._upsert_cache, _cache_row(entry))

    def cache_clear(self) -> int:
        """Forget every cache entry; returns how many there were."""
        with self._tx(write=True) as conn:
            return int(conn.execute(delete(t.cache_entries)).rowcount)

    # -- generic resources ------------------------------------------------------------------

    def put_resource(self, kind: str, namespace: str, name: str, body: dict[str, Any]) -> int:
        """Create or replace a resource; returns its generation (bumped when spec changes)."""
        r = t.resources
        key = (r.c.kind == kind, r.c.namespace == namespace, r.c.name == name)
        now = utcnow()
        with self._tx(write=True) as conn:
            query = select(r.c.generation, r.c.body).where(*key)
            if not self._sqlite:
                query = query.with_for_update()
            row = conn.execute(query).first()
            if row is None:
                # ON CONFLICT DO NOTHING: a concurrent creator may win between the SELECT
                # and here (PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises us).
                created = conn.execute(
                    self._insert_resource,
                    {
                        "kind": kind,
                        "namespace": namespace,
                        "name": name,
                        "generation": 1,
                        "body": _with_generation(body, 1),
                        "created_at": now,
                        "updated_at": now,
                    },
                )
                if created.rowcount == 1:
                    return 1
                row = conn.execute(query).first()
                assert row is not None
            generation = int(row[0])
            if _canonical(row[1].get("spec")) != _canonical(body.get("spec")):
                generation += 1
            conn.execute(
                update(r)
                .where(*key)
                .values(
                    generation=generation,
                    body=_with_generation(body, generation),
                    updated_at=now,
                )
            )
        return generation

    def get_resource(self, kind: str, namespace: str, name: str) -> dict[str, Any]:
        r = t.resources
        query = select(r.c.body).where(
            r.c.kind == kind, r.c.namespace == namespace, r.c.name == name
        )
        with self._tx(write=False) as conn:
            row = conn.execute(query).first()
        if row is None:
            raise _resource_not_found(kind, namespace, name)
        return dict(row[0])

    def list_resources(
        self, kind: str, namespace: str | None = None, labels: dict[str, str] | None = None
    ) -> list[dict[str, Any]]:
        """Resources of one kind, by namespace then name; `labels` must all match."""
        r = t.resources
        query = select(r.c.body).where(r.c.kind == kind)
        if namespace is not None:
            query = query.where(r.c.namespace == namespace)
        query = query.order_by(r.c.namespace, r.c.name)
        with self._tx(write=False) as conn:
            bodies = [dict(row[0]) for row in conn.execute(query)]
        if labels:
            bodies = [b for b in bodies if _labels_match(b, labels)]
        return bodies

    def delete_resource(self, kind: str, namespace: str, name: str) -> None:
        r = t.resources
        with self._tx(write=True) as conn:
            result = conn.execute(
                delete(r).where(r.c.kind == kind, r.c.namespace == namespace, r.c.name == name)
            )
        if result.rowcount == 0:
            raise _resource_not_found(kind, namespace, name)


_STEP_STATE_SET = frozenset(STEP_STATES)
_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    # A forked child must not reuse the parent's pooled connections (SQLAlchemy's advice);
    # close=False leaves them open for the parent.
    for engine in list(_ENGINES):
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_after_fork_in_child)


def _bad_state(where: str, state: object, allowed: Sequence[str]) -> InvalidInput:
    return InvalidInput(
        f"{where}: state {state!r} is not one of {', '.join(allowed)}",
        hint="use the constants in flowyard.store.records",
    )


def _bind(name: str) -> Any:
    from sqlalchemy import bindparam

    return bindparam(name)


def _with_generation(body: dict[str, Any], generation: int) -> dict[str, Any]:
    meta = dict(body.get("metadata") or {})
    meta["generation"] = generation
    return {**body, "metadata": meta}


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
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "head")
