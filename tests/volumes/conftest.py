"""Volumes on a real SQLite store and a real local object store under tmp_path
(`settings`, `metadata`, `objects` and `pg_url` come from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from flowyard.settings import Settings
from flowyard.store.metadata import MetadataStore
from flowyard.store.objects import ObjectStore
from flowyard.volumes import Volumes


@pytest.fixture
def vols(metadata: MetadataStore, objects: ObjectStore, settings: Settings) -> Iterator[Volumes]:
    v = Volumes(metadata, objects, settings)
    yield v
    v.close()
