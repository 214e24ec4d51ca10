"""The versioned-data tables, registered on the store's MetaData.

Created by migration 0002 (store/migrations/versions/0002_data.py; 0004 adds
data_repos.namespace); a store test compares the
migrated database with the MetaData, so change both together.

    data_repos        one row per repo, in a namespace (profile); names are platform-unique
    data_branches     (repo, name) -> head commit id; moving a head is the commit point
    data_commits      open and finished commits; a finished one names its tree blob
    data_provenance   commit -> the commits it was computed from (indexed both ways)
    data_chunks       chunk digest -> (pack blob, offset, length): the pack index used for dedup
    data_blobs        every blob the data layer registered (packs, tree pages, roots), for gc
    data_jobs         data-pipeline jobs: inputs, output commit, datum counts and failures
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from flowyard.store.schema import UTCDateTime, json_type, metadata

data_repos = Table(
    "data_repos",
    metadata,
    Column("name", String(63), nullable=False),
    Column("description", Text(), nullable=False),
    Column("owner", String(253), nullable=True),
    Column("labels", json_type(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("namespace", String(253), nullable=False, server_default="default"),
    PrimaryKeyConstraint("name"),
    Index(None, "namespace", "name"),
)

data_branches = Table(
    "data_branches",
    metadata,
    Column(
        "repo", String(63), ForeignKey("data_repos.name", ondelete="CASCADE"), nullable=False
    ),
    Column("name", String(253), nullable=False),
    Column("head", String(32), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("repo", "name"),
)

data_commits = Table(
    "data_commits",
    metadata,
    Column("id", String(32), nullable=False),
    Column(
        "repo", String(63), ForeignKey("data_repos.name", ondelete="CASCADE"), nullable=False
    ),
    Column("branch", String(253), nullable=True),
    Column("parent_id", String(32), nullable=True),
    Column("parents", json_type(), nullable=False),
    Column("state", String(8), nullable=False),
    Column("origin", String(32), nullable=False),
    Column("message", Text(), nullable=False),
    Column("tree", String(80), nullable=True),
    Column("files", BigInteger(), nullable=False),
    Column("bytes", BigInteger(), nullable=False),
    Column("info", json_type(), nullable=False),
    Column("staged", json_type(), nullable=False),
    Column("pid", Integer(), nullable=True),
    Column("host", String(253), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime(), nullable=True),
    PrimaryKeyConstraint("id"),
    Index(None, "repo", "created_at"),
    Index(None, "parent_id"),
    Index(None, "state"),
)

data_provenance = Table(
    "data_provenance",
    metadata,
    Column(
        "commit_id", String(32), ForeignKey("data_commits.id", ondelete="CASCADE"), nullable=False
    ),
    Column("source_id", String(32), nullable=False),
    PrimaryKeyConstraint("commit_id", "source_id"),
    Index(None, "source_id"),
)

data_chunks = Table(
    "data_chunks",
    metadata,
    Column("digest", String(80), nullable=False),
    Column("pack", String(80), nullable=False),
    Column("offset", BigInteger(), nullable=False),
    Column("length", Integer(), nullable=False),
    PrimaryKeyConstraint("digest"),
    Index(None, "pack"),
)

data_blobs = Table(
    "data_blobs",
    metadata,
    Column("digest", String(80), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("size", BigInteger(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("digest"),
)

data_jobs = Table(
    "data_jobs",
    metadata,
    Column("id", String(32), nullable=False),
    Column("pipeline", String(253), nullable=False),
    Column("state", String(16), nullable=False),
    Column("inputs", json_type(), nullable=False),
    Column("output_commit", String(32), nullable=True),
    Column("transform_hash", String(80), nullable=False),
    Column("stats", json_type(), nullable=False),
    Column("datums", json_type(), nullable=False),
    Column("failures", json_type(), nullable=False),
    Column("warnings", json_type(), nullable=False),
    Column("error", Text(), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime(), nullable=True),
    Column("driver_pid", Integer(), nullable=True),
    Column("driver_host", String(253), nullable=True),
    PrimaryKeyConstraint("id"),
    Index(None, "pipeline", "created_at"),
)
