"""Repos, branches, commits, provenance and the pack index in the metadata database.

SQLAlchemy Core on the MetadataStore's engine and transactions (SQLite: BEGIN IMMEDIATE for
writes). The one statement that publishes a commit is the compare-and-swap of the branch
head in `finish_commit`, inside the same transaction as the commit row and its index rows.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from flowyard.data import schema as t
from flowyard.data.records import Branch, Commit, Repo
from flowyard.data.refs import owned_repo, suggest
from flowyard.errors import Conflict, NotFound
from flowyard.store.metadata import MetadataStore
from flowyard.store.records import utcnow

IN_BATCH: Final = 500
SQLITE_IN_BATCH: Final = 8000
HOST: Final = socket.gethostname()

_COMMIT_COLS = (
    t.data_commits.c.id,
    t.data_commits.c.repo,
    t.data_commits.c.branch,
    t.data_commits.c.parents,
    t.data_commits.c.state,
    t.data_commits.c.origin,
    t.data_commits.c.message,
    t.data_commits.c.tree,
    t.data_commits.c.files,
    t.data_commits.c.bytes,
    t.data_commits.c.info,
    t.data_commits.c.created_at,
    t.data_commits.c.finished_at,
)


def _commit(row: Any, provenance: list[str] | None = None) -> Commit:
    commit = Commit(*row)
    commit.provenance = provenance or []
    return commit


class Catalog:
    def __init__(self, meta: MetadataStore) -> None:
        self.meta = meta

    def tx(self, *, write: bool = False) -> AbstractContextManager[Connection]:
        # MetadataStore's transaction helper: error translation and SQLite write locking.
        return self.meta._tx(write=write)

    @staticmethod
    def _insert_ignore(conn: Connection, table: Any, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        ins = sqlite.insert if conn.dialect.name == "sqlite" else postgresql.insert
        conn.execute(ins(table).on_conflict_do_nothing(), list(rows))

    # -- repos ------------------------------------------------------------------------------

    def create_repo(
        self, name: str, description: str, owner: str | None, namespace: str = "default"
    ) -> Repo:
        now = utcnow()
        with self.tx(write=True) as conn:
            found = conn.execute(
                select(t.data_repos.c.namespace).where(t.data_repos.c.name == name)
            ).first()
            if found is not None and found[0] == namespace:
                raise Conflict(
                    f"repo '{name}' already exists",
                    hint="pick another name, or delete it first: flowyard data repo delete "
                    + name,
                )
            if found is not None:
                # Names are platform-wide (commits and data:// uris name a repo alone); the
                # other namespace stays unnamed.
                raise Conflict(
                    f"repo name '{name}' is taken in another namespace",
                    hint="repo names are unique across namespaces; pick another name",
                )
            conn.execute(
                insert(t.data_repos),
                {"name": name, "description": description, "owner": owner, "labels": {},
                 "created_at": now, "namespace": namespace},
            )
            conn.execute(
                insert(t.data_branches),
                {"repo": name, "name": "master", "head": None, "created_at": now,
                 "updated_at": now},
            )
        return Repo(name, description, owner, {}, now, ["master"], namespace)

    def repo_names(self, conn: Connection, namespace: str | None = None) -> list[str]:
        query = select(t.data_repos.c.name)
        if namespace is not None:
            query = query.where(t.data_repos.c.namespace == namespace)
        return [r[0] for r in conn.execute(query)]

    def repo_namespace(self, name: str) -> str | None:
        """The namespace repo `name` belongs to; None when there is no such repo."""
        with self.tx() as conn:
            row = conn.execute(
                select(t.data_repos.c.namespace).where(t.data_repos.c.name == name)
            ).first()
        return None if row is None else str(row[0])

    def get_repo(self, name: str, conn: Connection | None = None) -> Repo:
        if conn is None:
            with self.tx() as c:
                return self.get_repo(name, c)
        r = t.data_repos
        row = conn.execute(
            select(
                r.c.name, r.c.description, r.c.owner, r.c.labels, r.c.created_at, r.c.namespace
            ).where(r.c.name == name)
        ).first()
        if row is None:
            raise NotFound(f"repo '{name}' not found", hint=suggest(name, self.repo_names(conn)))
        branches = [
            b[0]
            for b in conn.execute(
                select(t.data_branches.c.name)
                .where(t.data_branches.c.repo == name)
                .order_by(t.data_branches.c.name)
            )
        ]
        return Repo(*row[:5], branches=branches, namespace=row[5])

    def list_repos(self, namespace: str | None = None) -> list[Repo]:
        """Every repo, or those of one namespace."""
        r, b = t.data_repos, t.data_branches
        repos = select(r.c.name, r.c.description, r.c.owner, r.c.labels, r.c.created_at,
                       r.c.namespace).order_by(r.c.name)
        names = select(b.c.repo, b.c.name).order_by(b.c.name)
        if namespace is not None:
            repos = repos.where(r.c.namespace == namespace)
            names = names.join(r, r.c.name == b.c.repo).where(r.c.namespace == namespace)
        with self.tx() as conn:
            rows = conn.execute(repos).all()
            branches: dict[str, list[str]] = {}
            for repo, name in conn.execute(names):
                branches.setdefault(repo, []).append(name)
        return [
            Repo(*row[:5], branches=branches.get(row[0], []), namespace=row[5]) for row in rows
        ]

    def delete_repo(self, name: str, *, force: bool) -> list[str]:
        """Delete the repo, its branches and commits; returns the tree digests it held."""
        with self.tx(write=True) as conn:
            repo = self.get_repo(name, conn)
            if repo.owner:
                # Even with force (as Pachyderm): the pipeline would go on writing to a repo
                # that is gone. Deleting the pipeline releases the repo.
                raise owned_repo(
                    name, repo.owner, "it is not deleted while the pipeline exists, even "
                    "with --force")
            c, p = t.data_commits, t.data_provenance
            ids = select(c.c.id).where(c.c.repo == name)
            users = conn.execute(
                select(c.c.repo, c.c.id)
                .join(p, p.c.commit_id == c.c.id)
                .where(p.c.source_id.in_(ids), c.c.repo != name)
                .limit(5)
            ).all()
            if users and not force:
                names = sorted({u[0] for u in users})
                raise Conflict(
                    f"repo '{name}' has commits that commits of {', '.join(names)} were "
                    f"computed from (e.g. commit {users[0][1]})",
                    hint="delete those repos first, or pass --force to keep their provenance "
                    "dangling",
                )
            trees = [r[0] for r in conn.execute(select(c.c.tree).where(c.c.repo == name)) if r[0]]
            conn.execute(delete(p).where(p.c.commit_id.in_(ids)))
            conn.execute(delete(c).where(c.c.repo == name))
            conn.execute(delete(t.data_branches).where(t.data_branches.c.repo == name))
            conn.execute(delete(t.data_repos).where(t.data_repos.c.name == name))
        return trees

    def set_owner(self, name: str, owner: str | None, *, only_if: str | None = None) -> None:
        r = t.data_repos
        with self.tx(write=True) as conn:
            query = update(r).where(r.c.name == name)
            if only_if is not None:
                query = query.where(r.c.owner == only_if)
            conn.execute(query.values(owner=owner))

    # -- branches ---------------------------------------------------------------------------

    def branch_row(self, conn: Connection, repo: str, name: str) -> Branch | None:
        b = t.data_branches
        row = conn.execute(
            select(b.c.repo, b.c.name, b.c.head, b.c.created_at, b.c.updated_at).where(
                b.c.repo == repo, b.c.name == name
            )
        ).first()
        return None if row is None else Branch(*row)

    def list_branches(self, repo: str) -> list[Branch]:
        b = t.data_branches
        with self.tx() as conn:
            self.get_repo(repo, conn)
            rows = conn.execute(
                select(b.c.repo, b.c.name, b.c.head, b.c.created_at, b.c.updated_at)
                .where(b.c.repo == repo)
                .order_by(b.c.name)
            ).all()
        return [Branch(*r) for r in rows]

    def create_branch(self, repo: str, name: str, head: str | None) -> Branch:
        now = utcnow()
        with self.tx(write=True) as conn:
            self._not_owned(conn, repo, f"branch '{name}' is not created by hand")
            if self.branch_row(conn, repo, name) is not None:
                raise Conflict(
                    f"branch '{name}' already exists in repo '{repo}'",
                    hint=f"pick another name, or delete it: flowyard data branch delete "
                    f"{repo}@{name}",
                )
            conn.execute(
                insert(t.data_branches),
                {"repo": repo, "name": name, "head": head, "created_at": now, "updated_at": now},
            )
        return Branch(repo, name, head, now, now)

    def delete_branch(self, repo: str, name: str) -> None:
        b = t.data_branches
        with self.tx(write=True) as conn:
            self._not_owned(conn, repo, f"branch '{name}' is not deleted by hand")
            result = conn.execute(delete(b).where(b.c.repo == repo, b.c.name == name))
            if result.rowcount == 0:
                raise self.no_branch(conn, repo, name)

    def _not_owned(self, conn: Connection, repo: str, refusal: str) -> None:
        """Refuse moving a pipeline-owned repo's branches: its pipeline would not notice."""
        owner = self.get_repo(repo, conn).owner
        if owner:
            raise owned_repo(repo, owner, refusal)

    def no_branch(self, conn: Connection, repo: str, name: str) -> NotFound:
        names = [
            r[0]
            for r in conn.execute(
                select(t.data_branches.c.name).where(t.data_branches.c.repo == repo)
            )
        ]
        return NotFound(f"branch '{name}' not found in repo '{repo}'", hint=suggest(name, names))

    # -- commits ----------------------------------------------------------------------------

    def get_commit(self, conn: Connection, commit_id: str) -> Commit | None:
        row = conn.execute(select(*_COMMIT_COLS).where(t.data_commits.c.id == commit_id)).first()
        if row is None:
            return None
        p = t.data_provenance
        prov = [
            r[0]
            for r in conn.execute(
                select(p.c.source_id).where(p.c.commit_id == commit_id).order_by(p.c.source_id)
            )
        ]
        return _commit(row, prov)

    def commits_by_prefix(self, conn: Connection, repo: str, prefix: str) -> list[str]:
        c = t.data_commits
        return [
            r[0]
            for r in conn.execute(
                select(c.c.id)
                .where(c.c.repo == repo, c.c.id.startswith(prefix), c.c.state == "finished")
                .limit(5)
            )
        ]

    def repos_with_commit(self, conn: Connection, prefix: str) -> list[tuple[str, str]]:
        """(repo, commit id) of up to 5 finished commits whose id starts with `prefix`."""
        c = t.data_commits
        match = c.c.id == prefix if len(prefix) == 32 else c.c.id.startswith(prefix)
        return [
            (r[0], r[1])
            for r in conn.execute(
                select(c.c.repo, c.c.id).where(match, c.c.state == "finished").limit(5)
            )
        ]

    def insert_open_commit(
        self, commit_id: str, repo: str, branch: str, origin: str, message: str,
        info: dict[str, Any],
    ) -> None:
        with self.tx(write=True) as conn:
            conn.execute(
                insert(t.data_commits),
                {
                    "id": commit_id, "repo": repo, "branch": branch, "parent_id": None,
                    "parents": [], "state": "open", "origin": origin, "message": message,
                    "tree": None, "files": 0, "bytes": 0, "info": info, "staged": [],
                    "pid": os.getpid(), "host": HOST, "created_at": utcnow(),
                    "finished_at": None,
                },
            )

    def stage_blob(self, commit_id: str, digests: Sequence[str]) -> None:
        """Record, before writing them, blobs an open commit is about to store."""
        c = t.data_commits
        with self.tx(write=True) as conn:
            staged = conn.execute(select(c.c.staged).where(c.c.id == commit_id)).scalar_one()
            conn.execute(
                update(c).where(c.c.id == commit_id).values(staged=[*staged, *digests])
            )

    def delete_open_commit(self, commit_id: str) -> None:
        c = t.data_commits
        with self.tx(write=True) as conn:
            conn.execute(delete(c).where(c.c.id == commit_id, c.c.state == "open"))

    def finish_commit(
        self,
        *,
        commit_id: str,
        repo: str,
        branch: str,
        expected_head: str | None,
        row_exists: bool,
        origin: str,
        message: str,
        info: dict[str, Any],
        tree: str,
        files: int,
        size: int,
        provenance: Sequence[str],
        blobs: Sequence[tuple[str, str, int]],
        reused: Iterable[str] = (),
    ) -> Commit | None:
        """Publish a commit in one transaction; None when the head moved meanwhile."""
        now = utcnow()
        c, b = t.data_commits, t.data_branches
        parents = [expected_head] if expected_head else []
        with self.tx(write=True) as conn:
            self._check_registered(conn, list(reused))
            moved = conn.execute(
                update(b)
                .where(b.c.repo == repo, b.c.name == branch, _is(b.c.head, expected_head))
                .values(head=commit_id, updated_at=now)
            )
            if moved.rowcount != 1:
                if self.branch_row(conn, repo, branch) is None:
                    raise self.no_branch(conn, repo, branch)
                return None
            values = {
                "branch": branch, "parent_id": expected_head, "parents": parents,
                "state": "finished", "origin": origin, "message": message, "tree": tree,
                "files": files, "bytes": size, "info": info, "staged": [], "pid": None,
                "host": None, "finished_at": now,
            }
            if row_exists:
                conn.execute(update(c).where(c.c.id == commit_id).values(**values))
            else:
                conn.execute(
                    insert(c), {"id": commit_id, "repo": repo, "created_at": now, **values}
                )
            if provenance:
                self._insert_ignore(
                    conn,
                    t.data_provenance,
                    [{"commit_id": commit_id, "source_id": s} for s in provenance],
                )
            # Packs and their index objects are registered here: chunks are found through the
            # index objects (see packindex.py), not through a row per chunk.
            self._insert_ignore(
                conn,
                t.data_blobs,
                [{"digest": d, "kind": k, "size": n, "created_at": now} for d, k, n in blobs],
            )
            commit = self.get_commit(conn, commit_id)
        assert commit is not None
        return commit

    def _check_registered(self, conn: Connection, packs: list[str]) -> None:
        # fsck deletes registry rows before it deletes blobs, in a transaction of its own:
        # a pack learned from the index must still be registered when the commit lands.
        bl = t.data_blobs
        found: set[str] = set()
        for i in range(0, len(packs), IN_BATCH):
            query = select(bl.c.digest).where(bl.c.digest.in_(packs[i : i + IN_BATCH]))
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(read=True)
            found.update(r[0] for r in conn.execute(query))
        missing = sorted(set(packs) - found)
        if missing:
            raise Conflict(
                f"{len(missing)} pack(s) this commit reuses were collected by a concurrent "
                f"fsck (e.g. {missing[0]})",
                hint="run the put again",
            )

    def trees_finished_since(self, conn: Connection, since: datetime) -> list[str]:
        c = t.data_commits
        return [
            r[0]
            for r in conn.execute(
                select(c.c.tree).where(c.c.state == "finished", c.c.finished_at >= since)
            )
            if r[0]
        ]

    def move_branch(self, repo: str, branch: str, head: str | None) -> None:
        """Move a head by hand; refused on a repo a data pipeline owns (see _not_owned)."""
        b = t.data_branches
        with self.tx(write=True) as conn:
            self._not_owned(conn, repo, f"branch '{branch}' is not moved by hand")
            conn.execute(
                update(b).where(b.c.repo == repo, b.c.name == branch).values(
                    head=head, updated_at=utcnow()
                )
            )

    # -- pack index -------------------------------------------------------------------------

    def blobs_of_kind(self, kind: str) -> list[str]:
        bl = t.data_blobs
        with self.tx() as conn:
            return [r[0] for r in conn.execute(select(bl.c.digest).where(bl.c.kind == kind))]

    def has_chunk_rows(self) -> bool:
        """Whether data_chunks holds rows: stores written before pack index objects."""
        with self.tx() as conn:
            return conn.execute(select(t.data_chunks.c.digest).limit(1)).first() is not None

    def lookup_chunks(self, digests: Sequence[str]) -> Iterator[tuple[str, str, int, int]]:
        ch = t.data_chunks
        with self.tx() as conn:
            if conn.dialect.name == "sqlite":
                # 100,000 digests: big batches of plain SQL, not 200 compiled IN clauses.
                for i in range(0, len(digests), SQLITE_IN_BATCH):
                    batch = digests[i : i + SQLITE_IN_BATCH]
                    marks = ",".join("?" * len(batch))
                    yield from conn.exec_driver_sql(
                        "SELECT digest, pack, \"offset\", length FROM data_chunks "
                        f"WHERE digest IN ({marks})", tuple(batch))
                return
            for i in range(0, len(digests), IN_BATCH):
                batch = digests[i : i + IN_BATCH]
                for row in conn.execute(
                    select(ch.c.digest, ch.c.pack, ch.c.offset, ch.c.length).where(
                        ch.c.digest.in_(batch)
                    )
                ):
                    yield (row[0], row[1], row[2], row[3])

    def registered(self, digests: Iterable[str]) -> set[str]:
        wanted = list(digests)
        found: set[str] = set()
        with self.tx() as conn:
            for i in range(0, len(wanted), IN_BATCH):
                found.update(
                    r[0]
                    for r in conn.execute(
                        select(t.data_blobs.c.digest).where(
                            t.data_blobs.c.digest.in_(wanted[i : i + IN_BATCH])
                        )
                    )
                )
        return found

    # -- provenance -------------------------------------------------------------------------

    def neighbours(self, commit_ids: Iterable[str], *, up: bool) -> dict[str, list[str]]:
        """Direct provenance (up) or subvenance (down) of each commit."""
        p = t.data_provenance
        mine, other = (p.c.commit_id, p.c.source_id) if up else (p.c.source_id, p.c.commit_id)
        ids = list(commit_ids)
        out: dict[str, list[str]] = {}
        with self.tx() as conn:
            for i in range(0, len(ids), IN_BATCH):
                query = select(mine, other).where(mine.in_(ids[i : i + IN_BATCH]))
                for a, b2 in conn.execute(query):
                    out.setdefault(a, []).append(b2)
        return out

    def commits(self, ids: Iterable[str]) -> list[Commit]:
        out = []
        with self.tx() as conn:
            for i in ids:
                commit = self.get_commit(conn, i)
                if commit is not None:
                    out.append(commit)
        return out

    # -- maintenance ------------------------------------------------------------------------

    def all_finished(self) -> list[tuple[str, str, str]]:
        c = t.data_commits
        with self.tx() as conn:
            return [
                (r[0], r[1], r[2])
                for r in conn.execute(
                    select(c.c.id, c.c.repo, c.c.tree).where(c.c.state == "finished")
                )
            ]

    def open_commits(self) -> list[tuple[str, str, int | None, str | None, datetime, list[str]]]:
        c = t.data_commits
        with self.tx() as conn:
            return [
                (r[0], r[1], r[2], r[3], r[4], list(r[5]))
                for r in conn.execute(
                    select(c.c.id, c.c.repo, c.c.pid, c.c.host, c.c.created_at, c.c.staged).where(
                        c.c.state == "open"
                    )
                )
            ]

    def blob_registry(self) -> dict[str, tuple[str, int, datetime]]:
        bl = t.data_blobs
        with self.tx() as conn:
            return {
                r[0]: (r[1], r[2], r[3])
                for r in conn.execute(select(bl.c.digest, bl.c.kind, bl.c.size, bl.c.created_at))
            }

    def packs_in_index(self) -> set[str]:
        with self.tx() as conn:
            return {r[0] for r in conn.execute(select(t.data_chunks.c.pack).distinct())}

    def forget_blobs(self, digests: Sequence[str]) -> None:
        with self.tx(write=True) as conn:
            for i in range(0, len(digests), IN_BATCH):
                batch = list(digests[i : i + IN_BATCH])
                conn.execute(delete(t.data_chunks).where(t.data_chunks.c.pack.in_(batch)))
                conn.execute(delete(t.data_blobs).where(t.data_blobs.c.digest.in_(batch)))

    def count_commits(self, repo: str) -> int:
        c = t.data_commits
        with self.tx() as conn:
            return int(
                conn.execute(
                    select(func.count()).where(c.c.repo == repo, c.c.state == "finished")
                ).scalar_one()
            )


def _is(column: Any, value: str | None) -> Any:
    return column.is_(None) if value is None else column == value
