"""Fixtures shared by pipeline tests: a real SQLite store, a real local CAS, a real zygote."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flowyard.pipelines.engine import Engine
from flowyard.settings import Settings
from flowyard.store.metadata import MetadataStore
from flowyard.store.objects import ObjectStore


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home")


@pytest.fixture
def metadata(settings: Settings) -> Iterator[MetadataStore]:
    store = MetadataStore.from_settings(settings)
    yield store
    store.close()


@pytest.fixture
def objects(settings: Settings) -> ObjectStore:
    return ObjectStore.from_settings(settings)


@pytest.fixture
def engine(metadata: MetadataStore, objects: ObjectStore, settings: Settings) -> Iterator[Engine]:
    eng = Engine(metadata, objects, settings, workers=2)
    yield eng
    eng.close()
