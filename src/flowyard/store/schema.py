"""The metadata tables as SQLAlchemy Core objects (the runtime's view of the schema).

Migrations in `migrations/versions/` create these tables; a test checks that the migrated
database and these definitions agree, so change both together.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

from flowyard.store.values import as_utc


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps no zone, so store naive UTC there).

    Naive datetimes passed in are taken to be UTC already.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = as_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


class JSONDocument(TypeDecorator[Any]):
    """JSON everywhere; JSONB on PostgreSQL so it can be indexed and compared.

    Unlike `JSON().with_variant(JSONB(), "postgresql")` this imports the PostgreSQL dialect
    (and asyncio with it, ~15 ms) only when a PostgreSQL connection first compiles the type.
    """

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(JSON())


def json_type() -> TypeEngine[Any]:
    """The column type for JSON documents (see `JSONDocument`)."""
    return JSONDocument()


# SQLite only auto-increments an INTEGER PRIMARY KEY, PostgreSQL gets a 64-bit identity.
SEQ_TYPE = BigInteger().with_variant(Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)

runs = Table(
    "runs",
    metadata,
    Column("id", String(128), nullable=False),
    Column("namespace", String(253), nullable=False),
    Column("pipeline_name", String(253), nullable=False),
    Column("pipeline", json_type(), nullable=False),
    Column("parameters", json_type(), nullable=False),
    Column("state", String(16), nullable=False),
    Column("options", json_type(), nullable=False),
    Column("outputs", json_type(), nullable=False),
    Column("error", Text(), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("started_at", UTCDateTime(), nullable=True),
    Column("finished_at", UTCDateTime(), nullable=True),
    Column("driver_pid", Integer(), nullable=True),
    Column("driver_host", String(253), nullable=True),
    Column("labels", json_type(), nullable=False),
    PrimaryKeyConstraint("id"),
    Index(None, "namespace", "created_at"),
    Index(None, "pipeline_name", "created_at"),
    Index(None, "state"),
    Index(None, "created_at", "id"),  # 0004: newest-first pages over every namespace
)

steps = Table(
    "steps",
    metadata,
    Column("seq", SEQ_TYPE, autoincrement=True, nullable=False),
    Column("run_id", String(128), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("step_id", String(512), nullable=False),
    Column("name", String(253), nullable=False),
    Column("iteration", Integer(), nullable=True),
    Column("component", String(253), nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempt", Integer(), nullable=False),
    Column("started_at", UTCDateTime(), nullable=True),
    Column("finished_at", UTCDateTime(), nullable=True),
    Column("cache_hit", Boolean(), nullable=False),
    Column("cache_key", String(128), nullable=True),
    Column("inputs", json_type(), nullable=False),
    Column("outputs", json_type(), nullable=False),
    Column("input_artifacts", json_type(), nullable=False),
    Column("output_artifacts", json_type(), nullable=False),
    Column("exit_code", Integer(), nullable=True),
    Column("error", Text(), nullable=True),
    Column("log_path", Text(), nullable=True),
    Column("log_digest", String(128), nullable=True),
    Column("resources", json_type(), nullable=False),
    Column("pid", Integer(), nullable=True),
    PrimaryKeyConstraint("seq"),
    # Also serves lookups by run_id alone (leftmost prefix), so no separate steps(run_id) index.
    UniqueConstraint("run_id", "step_id"),
)

step_inputs = Table(
    "step_inputs",
    metadata,
    Column("run_id", String(128), nullable=False),
    Column("step_id", String(512), nullable=False),
    Column("name", String(253), nullable=False),
    Column("artifact_id", String(128), nullable=False),
    PrimaryKeyConstraint("run_id", "step_id", "name"),
    ForeignKeyConstraint(
        ["run_id", "step_id"], ["steps.run_id", "steps.step_id"], ondelete="CASCADE"
    ),
    Index(None, "artifact_id"),
)

artifacts = Table(
    "artifacts",
    metadata,
    Column("id", String(128), nullable=False),
    Column("run_id", String(128), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("step_id", String(512), nullable=False),
    Column("name", String(253), nullable=False),
    Column("type", String(128), nullable=False),
    Column("digest", String(80), nullable=False),
    Column("size", BigInteger(), nullable=False),
    Column("is_tree", Boolean(), nullable=False),
    Column("uri", Text(), nullable=False),
    Column("metadata", json_type(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("id"),
    Index(None, "digest"),
    Index(None, "run_id"),
)

cache_entries = Table(
    "cache_entries",
    metadata,
    Column("key", String(128), nullable=False),
    Column("run_id", String(128), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("step_id", String(512), nullable=False),
    Column("outputs", json_type(), nullable=False),
    Column("output_artifacts", json_type(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("key"),
    Index(None, "run_id"),
)

resources = Table(
    "resources",
    metadata,
    Column("kind", String(64), nullable=False),
    Column("namespace", String(253), nullable=False),
    Column("name", String(253), nullable=False),
    Column("generation", Integer(), nullable=False),
    Column("body", json_type(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("kind", "namespace", "name"),
)

# The versioned-data tables (migration 0002) are defined next to their code, on this MetaData.
# Login and profile tables (migration 0003), likewise next to their code.
from flowyard.data import schema as _data_schema  # noqa: E402, F401
from flowyard.platform import authschema as _auth_schema  # noqa: E402, F401
