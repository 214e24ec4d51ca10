"""Fixtures for the versioned-data tests: a DataStore on SQLite + local blobs, and on S3."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from data_helpers import make_store, write_files

from flowyard.data import DataStore
from flowyard.settings import Settings
from flowyard.store.objects import ObjectStore

BUCKET = "flowyard-data-test"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home")


@pytest.fixture
def ds(tmp_path: Path, settings: Settings) -> Iterator[DataStore]:
    store = make_store(tmp_path, settings)
    yield store
    store.close()


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
def s3_objects(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> ObjectStore:
    import boto3
    import requests  # type: ignore[import-untyped]

    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    requests.post(f"{s3_endpoint}/moto-api/reset", timeout=10).raise_for_status()
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=BUCKET)
    options: dict[str, Any] = {
        "client_kwargs": {"endpoint_url": s3_endpoint},
        "skip_instance_cache": True,
        "config_kwargs": {"retries": {"max_attempts": 1}, "connect_timeout": 2},
    }
    return ObjectStore(f"s3://{BUCKET}/store", cache_dir=tmp_path / "s3cache",
                       storage_options=options)


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


PG_ADMIN_URL = os.environ.get("TEST_PG_URL", "postgresql+psycopg://root@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A throwaway PostgreSQL database for this session (skipped when no server answers)."""
    import socket
    import uuid

    from sqlalchemy import create_engine, make_url, text

    admin_url = make_url(PG_ADMIN_URL)
    try:
        socket.create_connection((admin_url.host, admin_url.port or 5432), timeout=1).close()
    except OSError:
        pytest.skip(f"no PostgreSQL answering at {admin_url} (start it or set TEST_PG_URL)")
    name = f"t_data_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    yield admin_url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
