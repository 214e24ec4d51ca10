"""Initial schema: runs, steps, step_inputs, artifacts, cache_entries, resources.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _ts(name: str, nullable: bool) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("namespace", sa.String(253), nullable=False),
        sa.Column("pipeline_name", sa.String(253), nullable=False),
        sa.Column("pipeline", _json(), nullable=False),
        sa.Column("parameters", _json(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("options", _json(), nullable=False),
        sa.Column("outputs", _json(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        _ts("created_at", False),
        _ts("started_at", True),
        _ts("finished_at", True),
        sa.Column("driver_pid", sa.Integer(), nullable=True),
        sa.Column("driver_host", sa.String(253), nullable=True),
        sa.Column("labels", _json(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
    )
    op.create_index("ix_runs_namespace_created_at", "runs", ["namespace", "created_at"])
    op.create_index("ix_runs_pipeline_name_created_at", "runs", ["pipeline_name", "created_at"])
    op.create_index("ix_runs_state", "runs", ["state"])

    op.create_table(
        "steps",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("run_id", sa.String(128), nullable=False),
        sa.Column("step_id", sa.String(512), nullable=False),
        sa.Column("name", sa.String(253), nullable=False),
        sa.Column("iteration", sa.Integer(), nullable=True),
        sa.Column("component", sa.String(253), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        _ts("started_at", True),
        _ts("finished_at", True),
        sa.Column("cache_hit", sa.Boolean(), nullable=False),
        sa.Column("cache_key", sa.String(128), nullable=True),
        sa.Column("inputs", _json(), nullable=False),
        sa.Column("outputs", _json(), nullable=False),
        sa.Column("input_artifacts", _json(), nullable=False),
        sa.Column("output_artifacts", _json(), nullable=False),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("log_path", sa.Text(), nullable=True),
        sa.Column("log_digest", sa.String(128), nullable=True),
        sa.Column("resources", _json(), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("seq", name="pk_steps"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_steps_run_id_runs", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("run_id", "step_id", name="uq_steps_run_id_step_id"),
    )

    op.create_table(
        "step_inputs",
        sa.Column("run_id", sa.String(128), nullable=False),
        sa.Column("step_id", sa.String(512), nullable=False),
        sa.Column("name", sa.String(253), nullable=False),
        sa.Column("artifact_id", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "step_id", "name", name="pk_step_inputs"),
        sa.ForeignKeyConstraint(
            ["run_id", "step_id"],
            ["steps.run_id", "steps.step_id"],
            name="fk_step_inputs_run_id_step_id_steps",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_step_inputs_artifact_id", "step_inputs", ["artifact_id"])

    op.create_table(
        "artifacts",
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("run_id", sa.String(128), nullable=False),
        sa.Column("step_id", sa.String(512), nullable=False),
        sa.Column("name", sa.String(253), nullable=False),
        sa.Column("type", sa.String(128), nullable=False),
        sa.Column("digest", sa.String(80), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("is_tree", sa.Boolean(), nullable=False),
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("metadata", _json(), nullable=False),
        _ts("created_at", False),
        sa.PrimaryKeyConstraint("id", name="pk_artifacts"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_artifacts_run_id_runs", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_artifacts_digest", "artifacts", ["digest"])
    op.create_index("ix_artifacts_run_id", "artifacts", ["run_id"])

    op.create_table(
        "cache_entries",
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("run_id", sa.String(128), nullable=False),
        sa.Column("step_id", sa.String(512), nullable=False),
        sa.Column("outputs", _json(), nullable=False),
        sa.Column("output_artifacts", _json(), nullable=False),
        _ts("created_at", False),
        sa.PrimaryKeyConstraint("key", name="pk_cache_entries"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_cache_entries_run_id_runs", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_cache_entries_run_id", "cache_entries", ["run_id"])

    op.create_table(
        "resources",
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("namespace", sa.String(253), nullable=False),
        sa.Column("name", sa.String(253), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("body", _json(), nullable=False),
        _ts("created_at", False),
        _ts("updated_at", False),
        sa.PrimaryKeyConstraint("kind", "namespace", "name", name="pk_resources"),
    )


def downgrade() -> None:
    for table in ("resources", "cache_entries", "artifacts", "step_inputs", "steps", "runs"):
        op.drop_table(table)
