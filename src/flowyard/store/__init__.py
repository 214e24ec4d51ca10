"""Storage: content-addressed blobs (`ObjectStore`) and the metadata database (`MetadataStore`).

Layers, bottom up: bytes on an fsspec filesystem -> blobs named by their blake3 digest ->
records (runs, steps, artifacts) in SQL that point at digests. Names load on first use so
that importing `flowyard.store` does not pull in SQLAlchemy or fsspec.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flowyard.store.metadata import MetadataStore
    from flowyard.store.objects import BlobInfo, ObjectStore, hash_bytes, hash_file
    from flowyard.store.records import (
        RUN_STATES,
        STEP_STATES,
        TERMINAL_RUN_STATES,
        TERMINAL_STEP_STATES,
        ArtifactRecord,
        CacheEntry,
        RunRecord,
        RunState,
        StepRecord,
        StepState,
    )

_EXPORTS = {
    "MetadataStore": "flowyard.store.metadata",
    "BlobInfo": "flowyard.store.objects",
    "ObjectStore": "flowyard.store.objects",
    "hash_bytes": "flowyard.store.objects",
    "hash_file": "flowyard.store.objects",
    "RUN_STATES": "flowyard.store.records",
    "STEP_STATES": "flowyard.store.records",
    "TERMINAL_RUN_STATES": "flowyard.store.records",
    "TERMINAL_STEP_STATES": "flowyard.store.records",
    "ArtifactRecord": "flowyard.store.records",
    "CacheEntry": "flowyard.store.records",
    "RunRecord": "flowyard.store.records",
    "RunState": "flowyard.store.records",
    "StepRecord": "flowyard.store.records",
    "StepState": "flowyard.store.records",
}

__all__ = [
    "RUN_STATES",
    "STEP_STATES",
    "TERMINAL_RUN_STATES",
    "TERMINAL_STEP_STATES",
    "ArtifactRecord",
    "BlobInfo",
    "CacheEntry",
    "MetadataStore",
    "ObjectStore",
    "RunRecord",
    "RunState",
    "StepRecord",
    "StepState",
    "hash_bytes",
    "hash_file",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'flowyard.store' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
