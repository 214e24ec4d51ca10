"""The metadata database through SQLAlchemy Core: PostgreSQL, and SQLite beyond a run's calls.

One Engine per store (SQLite in WAL mode, PostgreSQL with a pre-pinged pool); the hot writes
are a handful of pre-built statements, no ORM session. `MetadataStore` owns the checks and the
errors; the methods here return None or False where a record is missing, and it says so.
"""

from __future__ import annotations

import json
import os
import uuid
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    bindparam,
    create_engine,
    delete,
    event,
    literal,
    make_url,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, StatementError
from sqlalchemy.pool import StaticPool

from flowyard.errors import ConfigError, Conflict, FlowyardError, StoreError
from flowyard.store import schema as t
from flowyard.store.native_sqlite import (
    ARTIFACT_COLUMNS,
    CACHE_COLUMNS,
    RUN_COLUMNS,
    STEP_COLUMNS,
    check_sqlite_folder,
)
from flowyard.store.records import (
    ArtifactRecord,
    CacheEntry,
    RunRecord,
    StepRecord,
    utcnow,
)
from flowyard.store.values import json_dumps, json_loads

if TYPE_CHECKING:
    from datetime import datetime

_RUN_COLUMNS = [t.runs.c[name] for name in RUN_COLUMNS]
_RUN_COLUMNS_LIGHT = [literal(None).label("pipeline") if c.name == "pipeline" else c
                      for c in _RUN_COLUMNS]
_STEP_COLUMNS = [t.steps.c[name] for name in STEP_COLUMNS]
_ARTIFACT_COLUMNS = [t.artifacts.c[name] for name in ARTIFACT_COLUMNS]
_CACHE_COLUMNS = [t.cache_entries.c[name] for name in CACHE_COLUMNS]


def _row_builder(columns: Sequence[str], fields: Sequence[str]) -> Callable[[Any], dict[str, Any]]:
    """record -> {column: value}, for the tables' columns that the record's fields fill."""
    get = attrgetter(*fields)
    return lambda record: dict(zip(columns, get(record), strict=True))


_run_row = _row_builder(RUN_COLUMNS, RUN_COLUMNS)
_step_row = _row_builder(STEP_COLUMNS, tuple(StepRecord.__dataclass_fields__))
_artifact_row = _row_builder(ARTIFACT_COLUMNS, ARTIFACT_COLUMNS)
_cache_row = _row_builder(CACHE_COLUMNS, CACHE_COLUMNS)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


class SqlStore:
    """Every metadata call on one SQLAlchemy Engine (see `MetadataStore` for the contract)."""

    def __init__(self, url: str) -> None:
        try:
            self._url: URL = make_url(url)
        except ArgumentError as exc:
            raise ConfigError(
                f"metadata database URL {url!r} is not a valid SQLAlchemy URL",
                hint="use e.g. sqlite:////path/flowyard.db or "
                "postgresql+psycopg://user@host:5432/db (FLOWYARD_DATABASE_URL)",
            ) from exc
        self.url = self._url.render_as_string(hide_password=True)
        self.sqlite = self._url.get_backend_name() == "sqlite"
        if self._url.get_backend_name() not in ("sqlite", "postgresql"):
            raise ConfigError(
                f"metadata database {self.url} is not supported",
                hint="use SQLite (sqlite:///path) or PostgreSQL (postgresql+psycopg://...)",
            )
        self.engine = self._make_engine()
        _ENGINES.add(self.engine)
        self._closed = False
        self._prepare_statements()

    # -- engine and transactions ------------------------------------------------------------

    def _make_engine(self) -> Engine:
        url = self._url
        try:
            if self.sqlite:
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
                json_serializer=json_dumps,
                json_deserializer=json_loads,
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
            check_sqlite_folder(database)
            engine = create_engine(
                url,
                pool_size=5,
                max_overflow=10,
                connect_args={"timeout": 30},
                json_serializer=json_dumps,
                json_deserializer=json_loads,
            )
        else:
            # One shared connection, else every checkout would see its own empty database.
            engine = create_engine(
                url,
                poolclass=StaticPool,
                connect_args={"check_same_thread": False},
                json_serializer=json_dumps,
                json_deserializer=json_loads,
            )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # Hand transaction control to us (the begin hook) instead of pysqlite's guesswork.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA synchronous=NORMAL")   # first: one sync less switching to WAL
            if not memory:
                cur.execute("PRAGMA journal_mode=WAL")
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
    def tx(self, *, write: bool) -> Iterator[Connection]:
        """One transaction; database errors leave as StoreError/Conflict naming the URL."""
        if self._closed:
            raise StoreError(f"metadata store {self.url} is closed")
        try:
            with self.engine.connect() as conn:
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
        if self.sqlite and "locked" in str(exc.orig):
            return "another process held the database's write lock for more than 30 s"
        if self.sqlite:
            return "check that the database file is readable and writable"
        return "check that the database server is running and FLOWYARD_DATABASE_URL is right"

    def close(self) -> None:
        self._closed = True
        self.engine.dispose()

    def current_revision(self) -> str | None:
        try:
            with self.engine.connect() as conn:
                row = conn.exec_driver_sql("SELECT version_num FROM alembic_version").first()
                conn.rollback()
        except DBAPIError:
            return None
        return None if row is None else str(row[0])

    # -- statements -------------------------------------------------------------------------

    def _prepare_statements(self) -> None:
        # Both dialects' Insert offer on_conflict_do_update/do_nothing with the same shape.
        ins: Callable[[Table], Any]
        if self.sqlite:
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
            t.step_inputs.c.run_id == bindparam("b_run_id"),
            t.step_inputs.c.step_id == bindparam("b_step_id"),
        )
        self._insert_inputs = t.step_inputs.insert()
        self._insert_resource = ins(t.resources).on_conflict_do_nothing(
            index_elements=[t.resources.c.kind, t.resources.c.namespace, t.resources.c.name]
        )

    def _write_steps(self, conn: Connection, steps: Sequence[StepRecord]) -> None:
        if not steps:
            return
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

    # -- runs -------------------------------------------------------------------------------

    def create_run(self, run: RunRecord, steps: Sequence[StepRecord]) -> bool:
        with self.tx(write=True) as conn:
            if conn.execute(select(t.runs.c.id).where(t.runs.c.id == run.id)).first():
                return False
            conn.execute(t.runs.insert(), _run_row(run))
            self._write_steps(conn, steps)
        return True

    def get_run(self, run_id: str) -> RunRecord | None:
        with self.tx(write=False) as conn:
            row = conn.execute(select(*_RUN_COLUMNS).where(t.runs.c.id == run_id)).first()
        return None if row is None else RunRecord(*row)

    def run_exists(self, run_id: str) -> bool:
        with self.tx(write=False) as conn:
            return conn.execute(select(t.runs.c.id).where(t.runs.c.id == run_id)).first() \
                is not None

    def list_runs(self, *, namespace: str | None, pipeline: str | None, state: str | None,
                  limit: int, offset: int, after: tuple[datetime, str] | None,
                  snapshot: bool) -> list[RunRecord]:
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
        with self.tx(write=False) as conn:
            records = [RunRecord(*row) for row in conn.execute(query)]
        if not snapshot:
            for record in records:
                record.pipeline = {}  # selected as NULL
        return records

    def update_run(self, run_id: str, fields: dict[str, Any]) -> RunRecord | None:
        with self.tx(write=True) as conn:
            if fields:
                result = conn.execute(update(t.runs).where(t.runs.c.id == run_id).values(**fields))
                if result.rowcount == 0:
                    return None
            row = conn.execute(select(*_RUN_COLUMNS).where(t.runs.c.id == run_id)).first()
        return None if row is None else RunRecord(*row)

    def delete_run(self, run_id: str) -> bool:
        with self.tx(write=True) as conn:
            # Explicit deletes as well as ON DELETE CASCADE: SQLite connections opened by
            # other tools may run with foreign keys off.
            conn.execute(delete(t.step_inputs).where(t.step_inputs.c.run_id == run_id))
            conn.execute(delete(t.cache_entries).where(t.cache_entries.c.run_id == run_id))
            conn.execute(delete(t.artifacts).where(t.artifacts.c.run_id == run_id))
            conn.execute(delete(t.steps).where(t.steps.c.run_id == run_id))
            result = conn.execute(delete(t.runs).where(t.runs.c.id == run_id))
            return bool(result.rowcount)

    # -- steps ------------------------------------------------------------------------------

    def get_steps(self, run_id: str) -> list[StepRecord]:
        query = select(*_STEP_COLUMNS).where(t.steps.c.run_id == run_id).order_by(t.steps.c.seq)
        with self.tx(write=False) as conn:
            rows = conn.execute(query).all()
        return [StepRecord(*row) for row in rows]

    def get_step(self, run_id: str, step_id: str) -> StepRecord | None:
        query = select(*_STEP_COLUMNS).where(
            t.steps.c.run_id == run_id, t.steps.c.step_id == step_id
        )
        with self.tx(write=False) as conn:
            row = conn.execute(query).first()
        return None if row is None else StepRecord(*row)

    def write(self, steps: Sequence[StepRecord], artifacts: Sequence[ArtifactRecord] = (),
              caches: Sequence[CacheEntry] = ()) -> None:
        with self.tx(write=True) as conn:
            self._write_steps(conn, steps)
            if artifacts:
                conn.execute(self._upsert_artifact, [_artifact_row(a) for a in artifacts])
            if caches:
                conn.execute(self._upsert_cache, [_cache_row(c) for c in caches])

    # -- artifacts and lineage --------------------------------------------------------------

    def get_artifact(self, artifact_id: str) -> ArtifactRecord | None:
        query = select(*_ARTIFACT_COLUMNS).where(t.artifacts.c.id == artifact_id)
        with self.tx(write=False) as conn:
            row = conn.execute(query).first()
        return None if row is None else ArtifactRecord(*row)

    def list_artifacts(self, run_id: str | None, digest: str | None) -> list[ArtifactRecord]:
        query = select(*_ARTIFACT_COLUMNS)
        if run_id is not None:
            query = query.where(t.artifacts.c.run_id == run_id)
        if digest is not None:
            query = query.where(t.artifacts.c.digest == digest)
        query = query.order_by(t.artifacts.c.created_at, t.artifacts.c.id)
        with self.tx(write=False) as conn:
            return [ArtifactRecord(*row) for row in conn.execute(query)]

    def artifact_consumers(self, artifact_id: str) -> list[tuple[str, str]]:
        si = t.step_inputs
        query = (
            select(si.c.run_id, si.c.step_id)
            .where(si.c.artifact_id == artifact_id)
            .distinct()
            .order_by(si.c.run_id, si.c.step_id)
        )
        with self.tx(write=False) as conn:
            return [(str(r[0]), str(r[1])) for r in conn.execute(query)]

    # -- cache ------------------------------------------------------------------------------

    def cache_get(self, key: str) -> CacheEntry | None:
        query = select(*_CACHE_COLUMNS).where(t.cache_entries.c.key == key)
        with self.tx(write=False) as conn:
            row = conn.execute(query).first()
        return None if row is None else CacheEntry(*row)

    def cache_clear(self) -> int:
        with self.tx(write=True) as conn:
            return int(conn.execute(delete(t.cache_entries)).rowcount)

    # -- generic resources ------------------------------------------------------------------

    def put_resource(self, kind: str, namespace: str, name: str, body: dict[str, Any]) -> int:
        r = t.resources
        key = (r.c.kind == kind, r.c.namespace == namespace, r.c.name == name)
        now = utcnow()
        with self.tx(write=True) as conn:
            query = select(r.c.generation, r.c.body).where(*key)
            if not self.sqlite:
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
                    body=_with_generation(body, generation, row[1]),
                    updated_at=now,
                )
            )
        return generation

    def get_resource(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        r = t.resources
        query = select(r.c.body).where(
            r.c.kind == kind, r.c.namespace == namespace, r.c.name == name
        )
        with self.tx(write=False) as conn:
            row = conn.execute(query).first()
        return None if row is None else dict(row[0])

    def list_resources(self, kind: str, namespace: str | None) -> list[dict[str, Any]]:
        r = t.resources
        query = select(r.c.body).where(r.c.kind == kind)
        if namespace is not None:
            query = query.where(r.c.namespace == namespace)
        query = query.order_by(r.c.namespace, r.c.name)
        with self.tx(write=False) as conn:
            return [dict(row[0]) for row in conn.execute(query)]

    def delete_resource(self, kind: str, namespace: str, name: str) -> bool:
        r = t.resources
        with self.tx(write=True) as conn:
            result = conn.execute(
                delete(r).where(r.c.kind == kind, r.c.namespace == namespace, r.c.name == name)
            )
        return bool(result.rowcount)


def _with_generation(body: dict[str, Any], generation: int,
                     stored: dict[str, Any] | None = None) -> dict[str, Any]:
    """`body` with the store's fields: its generation, and its uid, made when the resource
    is created and kept from the `stored` body after that; a uid in `body` is ignored, as
    Kubernetes does (a resource deleted and created again is another object)."""
    meta = dict(body.get("metadata") or {})
    meta["generation"] = generation
    meta["uid"] = ((stored or {}).get("metadata") or {}).get("uid") or str(uuid.uuid4())
    return {**body, "metadata": meta}


_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    # A forked child must not reuse the parent's pooled connections (SQLAlchemy's advice);
    # close=False leaves them open for the parent.
    for engine in list(_ENGINES):
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_after_fork_in_child)
