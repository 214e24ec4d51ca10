"""Branch heads and commits read through the standard library's sqlite3.

A put that changes nothing (the stat cache and the memo of the last put prove it) reads a
branch head and one commit and writes nothing. On the embedded default, a plain SQLite
file, those reads go through sqlite3 here, so that such a put never imports SQLAlchemy
(about a third of the command's time). Everything else, and every other database, goes
through the Catalog. A miss here (no such repo or branch) is not an answer: the caller asks
the Catalog, which raises the error with its hints.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from flowyard.data.records import Commit
from flowyard.store.values import json_loads, sqlite_datetime_value

if TYPE_CHECKING:
    from flowyard.store.metadata import MetadataStore

_BRANCH = (
    "SELECT r.owner, b.head FROM data_repos r JOIN data_branches b ON b.repo = r.name "
    "WHERE r.name = ? AND b.name = ?"
)
_COMMIT = (
    "SELECT id, repo, branch, parents, state, origin, message, tree, files, bytes, info, "
    "created_at, finished_at FROM data_commits WHERE id = ?"
)
_PROVENANCE = (
    "SELECT source_id FROM data_provenance WHERE commit_id = ? ORDER BY source_id"
)


class BranchState(NamedTuple):
    owner: str | None   # the pipeline whose output repo this is, if any
    head: str | None    # None: the branch has no commit yet


class NativeReads:
    def __init__(self, meta: MetadataStore) -> None:
        self.meta = meta

    def branch(self, repo: str, branch: str) -> BranchState | None:
        """The repo's owner and the branch's head; None when either does not exist."""
        with self.meta.sqlite_reading() as conn:
            row = conn.execute(_BRANCH, (repo, branch)).fetchone()
        return None if row is None else BranchState(row[0], row[1])

    def commit(self, commit_id: str) -> Commit | None:
        with self.meta.sqlite_reading() as conn:
            row = conn.execute(_COMMIT, (commit_id,)).fetchone()
            if row is None:
                return None
            provenance = [r[0] for r in conn.execute(_PROVENANCE, (commit_id,))]
        (id_, repo, branch, parents, state, origin, message, tree, files, size, info,
         created, finished) = row
        created_at = sqlite_datetime_value(created)
        assert created_at is not None   # NOT NULL in the schema
        commit = Commit(id_, repo, branch, json_loads(parents), state, origin, message, tree,
                        files, size, json_loads(info), created_at,
                        sqlite_datetime_value(finished))
        commit.provenance = provenance
        return commit


def native_reads(meta: MetadataStore) -> NativeReads | None:
    """Reads without SQLAlchemy, where the metadata store is a plain SQLite file."""
    return NativeReads(meta) if meta.is_sqlite_file else None
