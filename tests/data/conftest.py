"""Fixtures for the versioned-data tests: a DataStore on SQLite + local blobs, and on S3.
`settings`, `pg_url` and the moto server (`s3_endpoint`) come from tests/conftest.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from data_helpers import make_store, write_files

from flowyard.data import DataStore
from flowyard.settings import Settings
from flowyard.store.objects import ObjectStore
from s3_helpers import fresh_bucket, s3_options, use_dummy_credentials

BUCKET = "flowyard-data-test"


@pytest.fixture
def ds(tmp_path: Path, settings: Settings) -> Iterator[DataStore]:
    store = make_store(tmp_path, settings)
    yield store
    store.close()


@pytest.fixture
def s3_objects(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> ObjectStore:
    use_dummy_credentials(monkeypatch)
    fresh_bucket(s3_endpoint, BUCKET)
    return ObjectStore(f"s3://{BUCKET}/store", cache_dir=tmp_path / "s3cache",
                       storage_options=s3_options(s3_endpoint))


@pytest.fixture(params=["local", "s3"])
def any_ds(
    request: pytest.FixtureRequest, tmp_path: Path, settings: Settings
) -> Iterator[DataStore]:
    objects = None if request.param == "local" else request.getfixturevalue("s3_objects")
    store = make_store(tmp_path, settings, objects)
    yield store
    store.close()


@pytest.fixture
def make_files(tmp_path: Path) -> Callable[..., Path]:
    def make(name: str, files: dict[str, bytes]) -> Path:
        return write_files(tmp_path / name, files)

    return make
