"""Lineage between data commits and pipeline runs.

A run that reads `repo@ref:/path` records an artifact with uri `data://repo@COMMIT:/path`
(pipelines/engine/datarefs.py); a step that writes into a repo makes a commit with origin
`pipeline`, info {run, step, artifact} and provenance to the data commits its run read. This
module answers "which runs read this commit" from those uris.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select

from flowyard.store import schema as st

if TYPE_CHECKING:
    from flowyard.data.repo import DataStore


@dataclass(frozen=True, slots=True)
class RunRead:
    """One step of a run that read a data commit (as input artifact `input`)."""

    repo: str
    commit: str
    path: str
    run: str
    step: str
    input: str
    artifact: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def runs_reading(ds: DataStore, commits: Iterable[tuple[str, str]]) -> list[RunRead]:
    """The run steps that read any of the `(repo, commit id)` pairs, oldest first."""
    pairs = sorted(set(commits))
    if not pairs:
        return []
    a = st.artifacts
    found: list[RunRead] = []
    for i in range(0, len(pairs), 200):
        likes = [a.c.uri.like(f"data://{repo}@{cid}:%") for repo, cid in pairs[i : i + 200]]
        query = (select(a.c.id, a.c.run_id, a.c.step_id, a.c.name, a.c["metadata"])
                 .where(or_(*likes)).order_by(a.c.created_at, a.c.id))
        with ds.catalog.tx() as conn:
            rows = conn.execute(query).all()
        for art_id, run_id, step_id, name, meta in rows:
            data = (meta or {}).get("data", {})
            steps = {s for r, s in ds.meta.artifact_consumers(art_id) if r == run_id}
            for step in sorted(steps | {step_id}):
                found.append(RunRead(data.get("repo", ""), data.get("commit", ""),
                                     data.get("path", ""), run_id, step, name, art_id))
    return found
