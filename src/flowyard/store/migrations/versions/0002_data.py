"""Versioned data: repos, branches, commits, provenance, pack index, blob registry, jobs.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _ts(name: str, nullable: bool) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "data_repos",
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(253), nullable=True),
        sa.Column("labels", _json(), nullable=False),
        _ts("created_at", False),
        sa.PrimaryKeyConstraint("name", name="pk_data_repos"),
    )
    op.create_table(
        "data_branches",
        sa.Column("repo", sa.String(63), nullable=False),
        sa.Column("name", sa.String(253), nullable=False),
        sa.Column("head", sa.String(32), nullable=True),
        _ts("created_at", False),
        _ts("updated_at", False),
        sa.PrimaryKeyConstraint("repo", "name", name="pk_data_branches"),
        sa.ForeignKeyConstraint(
            ["repo"],
            ["data_repos.name"],
            name="fk_data_branches_repo_data_repos",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "data_commits",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("repo", sa.String(63), nullable=False),
        sa.Column("branch", sa.String(253), nullable=True),
        sa.Column("parent_id", sa.String(32), nullable=True),
        sa.Column("parents", _json(), nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("origin", sa.String(32), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("tree", sa.String(80), nullable=True),
        sa.Column("files", sa.BigInteger(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("info", _json(), nullable=False),
        sa.Column("staged", _json(), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("host", sa.String(253), nullable=True),
        _ts("created_at", False),
        _ts("finished_at", True),
        sa.PrimaryKeyConstraint("id", name="pk_data_commits"),
        sa.ForeignKeyConstraint(
            ["repo"],
            ["data_repos.name"],
            name="fk_data_commits_repo_data_repos",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_data_commits_repo_created_at", "data_commits", ["repo", "created_at"])
    op.create_index("ix_data_commits_parent_id", "data_commits", ["parent_id"])
    op.create_index("ix_data_commits_state", "data_commits", ["state"])
    op.create_table(
        "data_provenance",
        sa.Column("commit_id", sa.String(32), nullable=False),
        sa.Column("source_id", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("commit_id", "source_id", name="pk_data_provenance"),
        sa.ForeignKeyConstraint(
            ["commit_id"],
            ["data_commits.id"],
            name="fk_data_provenance_commit_id_data_commits",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_data_provenance_source_id", "data_provenance", ["source_id"])
    op.create_table(
        "data_chunks",
        sa.Column("digest", sa.String(80), nullable=False),
        sa.Column("pack", sa.String(80), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("length", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("digest", name="pk_data_chunks"),
    )
    op.create_index("ix_data_chunks_pack", "data_chunks", ["pack"])
    op.create_table(
        "data_blobs",
        sa.Column("digest", sa.String(80), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        _ts("created_at", False),
        sa.PrimaryKeyConstraint("digest", name="pk_data_blobs"),
    )


    op.create_table(
        "data_jobs",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("pipeline", sa.String(253), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("inputs", _json(), nullable=False),
        sa.Column("output_commit", sa.String(32), nullable=True),
        sa.Column("transform_hash", sa.String(80), nullable=False),
        sa.Column("stats", _json(), nullable=False),
        sa.Column("datums", _json(), nullable=False),
        sa.Column("failures", _json(), nullable=False),
        sa.Column("warnings", _json(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        _ts("created_at", False),
        _ts("finished_at", True),
        sa.PrimaryKeyConstraint("id", name="pk_data_jobs"),
    )
    op.create_index("ix_data_jobs_pipeline_created_at", "data_jobs", ["pipeline", "created_at"])


def downgrade() -> None:
    for table in (
        "data_jobs",
        "data_blobs",
        "data_chunks",
        "data_provenance",
        "data_commits",
        "data_branches",
        "data_repos",
    ):
        op.drop_table(table)
