"""Data repos belong to a profile (namespace): data_repos.namespace, indexed; and an index
for listing runs newest first across namespaces (keyset pages on created_at, id).

Repo names stay unique across the platform (commits, data:// uris and data pipelines name a
repo by its name alone); the namespace decides who may see and change it. Existing repos
move to the 'default' namespace, the one `flowyard` uses when a command names none.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN (no batch table copy: on SQLite that would drop data_repos and
    # cascade to its branches and commits). The default fills the existing rows.
    op.add_column(
        "data_repos",
        sa.Column("namespace", sa.String(253), nullable=False, server_default="default"),
    )
    op.create_index("ix_data_repos_namespace_name", "data_repos", ["namespace", "name"])
    op.create_index("ix_runs_created_at_id", "runs", ["created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_runs_created_at_id", table_name="runs")
    op.drop_index("ix_data_repos_namespace_name", table_name="data_repos")
    with op.batch_alter_table("data_repos") as batch:
        batch.drop_column("namespace")
