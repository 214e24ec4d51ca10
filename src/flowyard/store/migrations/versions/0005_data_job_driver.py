"""Data-pipeline jobs record the process that runs them (data_jobs.driver_pid, driver_host),
so that a job whose process was killed is seen as failed instead of Running for good.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMNs, nullable (jobs recorded before this have no driver), as in 0004.
    op.add_column("data_jobs", sa.Column("driver_pid", sa.Integer(), nullable=True))
    op.add_column("data_jobs", sa.Column("driver_host", sa.String(253), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("data_jobs") as batch:
        batch.drop_column("driver_host")
        batch.drop_column("driver_pid")
