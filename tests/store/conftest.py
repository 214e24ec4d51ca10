"""Fixtures for the storage tests: SQLite and PostgreSQL metadata stores, local and S3 blobs.

PostgreSQL: one throwaway database per session on TEST_PG_URL (default the loopback server),
emptied between tests; skipped with a reason when no server answers. S3: a moto server on
127.0.0.1 with a port the kernel picks, reset before each test.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import URL, create_engine, make_url, text

from flowyard.store.metadata import MetadataStore
from flowyard.store.objects import ObjectStore

PG_ADMIN_URL = make_url(
    os.environ.get("TEST_PG_URL", "postgresql+psycopg://root@127.0.0.1:5432/postgres")
)
BUCKET = "flowyard-test"


def _pg_answers() -> bool:
    try:
        socket.create_connection((PG_ADMIN_URL.host, PG_ADMIN_URL.port or 5432), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.fixture(scope="session")
def pg_database() -> Iterator[Callable[[], URL]]:
    """A factory of throwaway PostgreSQL databases, all dropped at the end of the session."""
    if not _pg_answers():
        pytest.skip(f"no PostgreSQL answering at {PG_ADMIN_URL} (start it or set TEST_PG_URL)")
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    made: list[str] = []

    def make() -> URL:
        name = f"t_{uuid.uuid4().hex[:12]}"
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        made.append(name)
        return PG_ADMIN_URL.set(database=name)

    yield make
    with admin.connect() as c:
        for name in made:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def pg_url(pg_database: Callable[[], URL]) -> str:
    return pg_database().render_as_string(hide_password=False)


TABLES = "step_inputs, cache_entries, artifacts, steps, runs, resources"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A metadata database URL with an empty, migrated schema, on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'flowyard.db'}"
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


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_client(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A boto3 client on an emptied moto server with the test bucket created."""
    import boto3
    import requests

    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    requests.post(f"{s3_endpoint}/moto-api/reset", timeout=10).raise_for_status()
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    client.create_bucket(Bucket=BUCKET)
    return client


def s3_options(endpoint: str) -> dict[str, Any]:
    """fsspec options for moto; one attempt per call so failures surface fast."""
    return {
        "client_kwargs": {"endpoint_url": endpoint},
        "skip_instance_cache": True,
        "config_kwargs": {"retries": {"max_attempts": 1}, "connect_timeout": 2},
    }


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
