"""Fixtures for engine tests: a real SQLite store, a real local CAS, a real zygote."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flowyard.pipelines.engine import Engine, RunEvent
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


class Recorder:
    """Collects RunEvents (the CLI's progress feed)."""

    def __init__(self) -> None:
        self.events: list[RunEvent] = []

    def __call__(self, event: RunEvent) -> None:
        self.events.append(event)

    def states(self, step_id: str) -> list[str]:
        return [e.state for e in self.events if e.step_id == step_id]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()
