"""Versioned data ("git for data"): repos, branches, commits and provenance over the store.

File content goes into the content-addressed ObjectStore as packs of deduplicated chunks;
repos, branches and commits live in the metadata database. Names load on first use so
importing `flowyard.data` stays cheap (the store's schema imports `flowyard.data.schema`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flowyard.data.records import Branch, Commit, DiffEntry, FsckReport, LsEntry, Repo
    from flowyard.data.refs import Target, parse_target
    from flowyard.data.repo import DataStore
    from flowyard.data.writer import CommitWriter, PutResult

_EXPORTS = {
    "Branch": "flowyard.data.records",
    "Commit": "flowyard.data.records",
    "DiffEntry": "flowyard.data.records",
    "FsckReport": "flowyard.data.records",
    "LsEntry": "flowyard.data.records",
    "Repo": "flowyard.data.records",
    "Target": "flowyard.data.refs",
    "parse_target": "flowyard.data.refs",
    "CommitWriter": "flowyard.data.writer",
    "DataStore": "flowyard.data.repo",
    "PutResult": "flowyard.data.writer",
}

__all__ = [
    "Branch",
    "Commit",
    "CommitWriter",
    "DataStore",
    "DiffEntry",
    "FsckReport",
    "LsEntry",
    "PutResult",
    "Repo",
    "Target",
    "parse_target",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'flowyard.data' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
