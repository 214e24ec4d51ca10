"""Fixtures shared by pipeline tests: an engine with a real zygote on the real SQLite store
and local CAS of tests/conftest.py (`settings`, `metadata`, `objects`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from flowyard.pipelines.engine import Engine
from flowyard.settings import Settings
from flowyard.store.metadata import MetadataStore
from flowyard.store.objects import ObjectStore


@pytest.fixture
def engine(metadata: MetadataStore, objects: ObjectStore, settings: Settings) -> Iterator[Engine]:
    eng = Engine(metadata, objects, settings, workers=2)
    yield eng
    eng.close()
