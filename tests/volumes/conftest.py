"""Volumes on a real SQLite store and a real local object store under tmp_path."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowyard.settings import Settings
from flowyard.store.metadata import MetadataStore
from flowyard.store.objects import ObjectStore
from flowyard.volumes import Volumes


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home")


@pytest.fixture
def metadata(settings: Settings) -> Iterator[MetadataStore]:
    settings.ensure_home()
    store = MetadataStore.from_settings(settings)
    yield store
    store.close()


@pytest.fixture
def objects(settings: Settings) -> ObjectStore:
    return ObjectStore.from_settings(settings)


@pytest.fixture
def vols(metadata: MetadataStore, objects: ObjectStore, settings: Settings) -> Iterator[Volumes]:
    v = Volumes(metadata, objects, settings)
    yield v
    v.close()


def blob_count(objects: ObjectStore) -> int:
    return sum(1 for _ in objects.iter_digests())


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
    name = f"t_volumes_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    yield admin_url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
