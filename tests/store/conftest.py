"""Fixtures for the storage tests: SQLite and PostgreSQL metadata stores, local and S3 blobs.

PostgreSQL: the throwaway databases of tests/conftest.py (`pg_database`, `pg_url`: one per
module on TEST_PG_URL, default the loopback server), emptied between tests; skipped with a
reason when no server answers. S3: the session's moto server (`s3_endpoint`), emptied before
each test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from flowyard.store.metadata import MetadataStore
from flowyard.store.objects import ObjectStore
from s3_helpers import fresh_bucket, s3_options, use_dummy_credentials

BUCKET = "flowyard-test"


TABLES = "step_inputs, cache_entries, artifacts, steps, runs, resources"


SQLITE_PATHS = ["sqlite", "sqlite+pysqlite"]
"""`sqlite:///FILE` runs a pipeline's calls through sqlite3 (native_sqlite.py);
`sqlite+pysqlite:///FILE` keeps every call on SQLAlchemy: the tests run on both."""


@pytest.fixture(
    params=[*SQLITE_PATHS, pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A metadata database URL with an empty, migrated schema, on each backend."""
    if request.param in SQLITE_PATHS:
        return f"{request.param}:///{tmp_path / 'flowyard.db'}"
    url: str = request.getfixturevalue("pg_url")
    MetadataStore(url).close()  # migrate once; cheap afterwards
    engine = create_engine(url)
    with engine.begin() as c:
        c.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


@pytest.fixture
def meta(db_url: str) -> Iterator[MetadataStore]:
    store = MetadataStore(db_url)
    yield store
    store.close()


# -- S3 through moto ----------------------------------------------------------------------


@pytest.fixture
def s3_client(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A boto3 client on an emptied moto server with the test bucket created."""
    use_dummy_credentials(monkeypatch)
    return fresh_bucket(s3_endpoint, BUCKET)


@pytest.fixture
def s3_store_options() -> Callable[[str], dict[str, Any]]:
    return s3_options


@pytest.fixture(params=["local", "s3"])
def objects(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    """An empty object store on a local folder and on S3 (moto)."""
    if request.param == "local":
        return ObjectStore(str(tmp_path / "objects"))
    endpoint = request.getfixturevalue("s3_endpoint")
    request.getfixturevalue("s3_client")
    return ObjectStore(
        f"s3://{BUCKET}/store",
        cache_dir=tmp_path / "cache",
        storage_options=s3_options(endpoint),
    )
