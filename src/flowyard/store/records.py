"""Records the metadata store reads and writes: runs, steps, artifacts, cache entries.

Plain slotted dataclasses so the engine can build thousands of them cheaply; the store maps
them to rows with SQLAlchemy Core, never through an ORM session.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal

RunState = Literal["Pending", "Running", "Succeeded", "Failed", "Cancelled"]
StepState = Literal[
    "Pending", "Running", "Succeeded", "Cached", "Failed", "Skipped", "Omitted", "Cancelled"
]

RUN_STATES: Final[tuple[str, ...]] = ("Pending", "Running", "Succeeded", "Failed", "Cancelled")
TERMINAL_RUN_STATES: Final[frozenset[str]] = frozenset({"Succeeded", "Failed", "Cancelled"})
STEP_STATES: Final[tuple[str, ...]] = (
    "Pending",
    "Running",
    "Succeeded",
    "Cached",
    "Failed",
    "Skipped",
    "Omitted",
    "Cancelled",
)
# Skipped = its condition was false; Omitted = an upstream step failed; Cached = from the cache.
TERMINAL_STEP_STATES: Final[frozenset[str]] = frozenset(
    {"Succeeded", "Cached", "Failed", "Skipped", "Omitted", "Cancelled"}
)


def utcnow() -> datetime:
    """Timezone-aware UTC now; every timestamp in the store is aware UTC."""
    return datetime.now(UTC)


@dataclass(slots=True)
class RunRecord:
    id: str
    namespace: str
    pipeline_name: str
    pipeline: dict[str, Any]
    """The full Pipeline resource as a dict, snapshotted when the run was created."""
    parameters: dict[str, Any]
    state: str = "Pending"
    options: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    created_at: datetime = field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    driver_pid: int | None = None
    driver_host: str | None = None
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class StepRecord:
    run_id: str
    id: str
    """'train', or 'train[3]' for loop iteration 3."""
    name: str
    iteration: int | None
    component: str
    state: str = "Pending"
    attempt: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    cache_hit: bool = False
    cache_key: str | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    input_artifacts: dict[str, str] = field(default_factory=dict)
    """Input name -> artifact id; indexed for lineage (`artifact_consumers`)."""
    output_artifacts: dict[str, str] = field(default_factory=dict)
    exit_code: int | None = None
    error: str | None = None
    log_path: str | None = None
    log_digest: str | None = None
    resources: dict[str, Any] = field(default_factory=dict)
    pid: int | None = None


@dataclass(slots=True)
class ArtifactRecord:
    id: str
    run_id: str
    step_id: str
    name: str
    type: str
    digest: str
    size: int
    is_tree: bool = False
    uri: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: datetime = field(default_factory=utcnow)


@dataclass(slots=True)
class CacheEntry:
    key: str
    run_id: str
    step_id: str
    outputs: dict[str, Any]
    output_artifacts: dict[str, str]
    created_at: datetime = field(default_factory=utcnow)


RUN_FIELDS: Final[frozenset[str]] = frozenset(RunRecord.__dataclass_fields__)
