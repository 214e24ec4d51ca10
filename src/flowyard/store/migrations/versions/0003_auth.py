"""Login and profiles: users, hashed API tokens, profiles and their members.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _ts(name: str) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "auth_users",
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("name", name="pk_auth_users"),
    )
    op.create_table(
        "auth_tokens",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("user_name", sa.String(63), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_auth_tokens"),
        sa.ForeignKeyConstraint(["user_name"], ["auth_users.name"],
                                name="fk_auth_tokens_user", ondelete="CASCADE"),
    )
    op.create_index("ix_auth_tokens_user_name", "auth_tokens", ["user_name"])
    op.create_table(
        "auth_profiles",
        sa.Column("name", sa.String(253), nullable=False),
        sa.Column("owner", sa.String(63), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("name", name="pk_auth_profiles"),
        sa.ForeignKeyConstraint(["owner"], ["auth_users.name"],
                                name="fk_auth_profiles_owner", ondelete="CASCADE"),
    )
    op.create_table(
        "auth_profile_members",
        sa.Column("profile", sa.String(253), nullable=False),
        sa.Column("user_name", sa.String(63), nullable=False),
        sa.Column("role", sa.String(8), nullable=False),
        sa.PrimaryKeyConstraint("profile", "user_name", name="pk_auth_profile_members"),
        sa.ForeignKeyConstraint(["profile"], ["auth_profiles.name"],
                                name="fk_auth_members_profile", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_name"], ["auth_users.name"],
                                name="fk_auth_members_user", ondelete="CASCADE"),
    )
    op.create_index("ix_auth_profile_members_user_name", "auth_profile_members",
                    ["user_name"])


def downgrade() -> None:
    op.drop_table("auth_profile_members")
    op.drop_table("auth_profiles")
    op.drop_table("auth_tokens")
    op.drop_table("auth_users")
