"""Login and profile tables, registered on the store's MetaData.

Created by migration 0003 (store/migrations/versions/0003_auth.py); a store test compares the
migrated database with the MetaData, so change both together.

    auth_users            user name, scrypt password hash (or none: token-only), admin flag
    auth_tokens           API tokens: a public id and the SHA-256 of the secret, never the secret
    auth_profiles         profiles (namespaces) and their owners
    auth_profile_members  (profile, user) -> role: edit or view
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from flowyard.store.schema import UTCDateTime, metadata

users = Table(
    "auth_users",
    metadata,
    Column("name", String(63), nullable=False),
    Column("password_hash", Text(), nullable=True),
    Column("is_admin", Boolean(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("name", name="pk_auth_users"),
)

tokens = Table(
    "auth_tokens",
    metadata,
    Column("id", String(32), nullable=False),
    Column("user_name", String(63),
           ForeignKey("auth_users.name", ondelete="CASCADE", name="fk_auth_tokens_user"),
           nullable=False),
    Column("digest", String(64), nullable=False),
    Column("description", Text(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("id", name="pk_auth_tokens"),
    Index("ix_auth_tokens_user_name", "user_name"),
)

profiles = Table(
    "auth_profiles",
    metadata,
    Column("name", String(253), nullable=False),
    Column("owner", String(63),
           ForeignKey("auth_users.name", ondelete="CASCADE", name="fk_auth_profiles_owner"),
           nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("name", name="pk_auth_profiles"),
)

members = Table(
    "auth_profile_members",
    metadata,
    Column("profile", String(253),
           ForeignKey("auth_profiles.name", ondelete="CASCADE", name="fk_auth_members_profile"),
           nullable=False),
    Column("user_name", String(63),
           ForeignKey("auth_users.name", ondelete="CASCADE", name="fk_auth_members_user"),
           nullable=False),
    Column("role", String(8), nullable=False),
    PrimaryKeyConstraint("profile", "user_name", name="pk_auth_profile_members"),
    Index("ix_auth_profile_members_user_name", "user_name"),
)
