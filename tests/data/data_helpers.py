"""Helpers shared by the data tests (imported as a plain module: tests/data is on sys.path)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from flowyard.data import DataStore
from flowyard.settings import Settings
from flowyard.store.metadata import MetadataStore
from flowyard.store.objects import ObjectStore

SMALL_PACK = 256 << 10


def make_store(tmp_path: Path, settings: Settings, objects: ObjectStore | None = None,
               pack_size: int = SMALL_PACK) -> DataStore:
    meta = MetadataStore(f"sqlite:///{tmp_path / 'meta.db'}")
    objects = objects or ObjectStore(str(tmp_path / "objects"))
    return DataStore(meta, objects, settings, pack_size=pack_size, owns_stores=True)


def write_files(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root


def age_files(root: Path, seconds: float = 5.0) -> None:
    """Move mtimes into the past, so the stat cache does not treat files as racily clean."""
    past = time.time() - seconds
    for dirpath, _, names in os.walk(root):
        for n in names:
            os.utime(os.path.join(dirpath, n), (past, past))
