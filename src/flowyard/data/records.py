"""Plain records returned by the data API (and printed by the CLI)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

Origin = Literal["user", "pipeline", "data-pipeline"]
ORIGINS: tuple[str, ...] = ("user", "pipeline", "data-pipeline")


@dataclass(slots=True)
class Repo:
    name: str
    description: str
    owner: str | None
    labels: dict[str, str]
    created_at: datetime
    branches: list[str] = field(default_factory=list)
    namespace: str = "default"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class Branch:
    repo: str
    name: str
    head: str | None
    created_at: datetime
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class Commit:
    id: str
    repo: str
    branch: str | None
    parents: list[str]
    state: str
    origin: str
    message: str
    tree: str | None
    files: int
    bytes: int
    info: dict[str, Any]
    created_at: datetime
    finished_at: datetime | None
    provenance: list[str] = field(default_factory=list)

    @property
    def parent(self) -> str | None:
        return self.parents[0] if self.parents else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class LsEntry:
    path: str
    type: Literal["file", "dir"]
    size: int
    files: int = 1
    digest: str | None = None
    mode: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class DiffEntry:
    path: str
    change: Literal["added", "removed", "modified"]
    old_size: int | None
    new_size: int | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class FsckReport:
    commits: int = 0
    trees: int = 0
    packs: int = 0
    bytes_checked: int = 0
    problems: list[str] = field(default_factory=list)
    open_commits: list[str] = field(default_factory=list)
    dead_commits_removed: list[str] = field(default_factory=list)
    blobs_removed: list[str] = field(default_factory=list)
    temp_files: list[str] = field(default_factory=list)
    bytes_removed: int = 0
    """Without collect, what collect would remove (blobs_removed and temp_files likewise)."""
    blobs_in_grace: int = 0
    """Registered blobs no commit references, kept because they are younger than the grace
    period (a put that has not published yet may be about to reference them)."""
    bytes_in_grace: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ok"] = self.ok
        return d
