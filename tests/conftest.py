"""Shared fixtures: free ports, HTTP readiness, an isolated FLOWYARD_HOME, stores on
SQLite and local files, throwaway PostgreSQL databases, and one moto S3 server."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from cli_runner import Result, cli_runner
from net_helpers import free_port, wait_http
from s3_helpers import start_moto

if TYPE_CHECKING:
    from sqlalchemy import URL

    from flowyard.settings import Settings
    from flowyard.store.metadata import MetadataStore
    from flowyard.store.objects import ObjectStore


def pytest_configure(config: pytest.Config) -> None:
    # pytest-xdist hands its workers COLUMNS and LINES (the controller's terminal size); the
    # CLI's tables follow COLUMNS, so a worker would render narrower tables than a test run
    # in one process. Workers drop them: the same output either way.
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ.pop("COLUMNS", None)
        os.environ.pop("LINES", None)


def wait_driver_gone(run_id: str, timeout: float = 30.0) -> None:
    """Wait until the detached driver process of `run_id` has exited (tests leave none)."""
    import os

    from flowyard.client import Client

    with Client() as client:
        pid = client.transport.get_run(run_id).driver_pid
    if pid is None or pid == os.getpid():
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        except PermissionError:  # pid reused by another user's process: ours is gone
            return
        time.sleep(0.05)
    raise TimeoutError(f"driver {pid} of run {run_id} still alive after {timeout}s")


@pytest.fixture(name="wait_driver_gone")
def wait_driver_gone_fixture() -> Callable[..., None]:
    return wait_driver_gone


@pytest.fixture(name="free_port")
def free_port_fixture() -> Callable[[], int]:
    return free_port


@pytest.fixture(name="wait_http")
def wait_http_fixture() -> Callable[..., Any]:
    return wait_http


@pytest.fixture
def flowyard_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty FLOWYARD_HOME under tmp_path; other FLOWYARD_* settings are cleared."""
    home = tmp_path / "flowyard-home"
    for name in ("FLOWYARD_DATABASE_URL", "FLOWYARD_OBJECT_STORE_URL", "FLOWYARD_SERVER",
                 "FLOWYARD_S3_ENDPOINT_URL", "FLOWYARD_NAMESPACE", "FLOWYARD_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FLOWYARD_HOME", str(home))
    return home



@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], flowyard_home: Path) -> Callable[..., Result]:
    """`cli("runs", "list")` -> Result(code, stdout, stderr), through the real error contract."""
    return cli_runner(capsys)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with FLOWYARD_HOME under tmp_path (the environment's other values apply)."""
    from flowyard.settings import Settings

    return Settings(home=tmp_path / "home")


@pytest.fixture
def metadata(settings: Settings) -> Iterator[MetadataStore]:
    """A real SQLite metadata store in `settings.home`."""
    from flowyard.store.metadata import MetadataStore

    store = MetadataStore.from_settings(settings)
    yield store
    store.close()


@pytest.fixture
def objects(settings: Settings) -> ObjectStore:
    """A real local object store in `settings.home`."""
    from flowyard.store.objects import ObjectStore

    return ObjectStore.from_settings(settings)


# -- PostgreSQL: throwaway databases on TEST_PG_URL (default the loopback server) ----------

PG_ADMIN_URL = os.environ.get("TEST_PG_URL", "postgresql+psycopg://root@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def pg_database() -> Iterator[Callable[[], URL]]:
    """A factory of empty PostgreSQL databases (unique names, so parallel sessions do not
    meet), all dropped at the end of the session; skipped with a reason when no server
    answers."""
    import socket
    import uuid

    from sqlalchemy import create_engine, make_url, text

    admin_url = make_url(PG_ADMIN_URL)
    try:
        socket.create_connection((admin_url.host, admin_url.port or 5432), timeout=1).close()
    except OSError:
        pytest.skip(f"no PostgreSQL answering at {admin_url} (start it or set TEST_PG_URL)")
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    made: list[str] = []

    def make() -> URL:
        name = f"t_{uuid.uuid4().hex[:12]}"
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        made.append(name)
        return admin_url.set(database=name)

    yield make
    with admin.connect() as c:
        for name in made:  # FORCE: sessions a leaked engine left open do not block the drop
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="module")
def pg_url(pg_database: Callable[[], URL]) -> str:
    """An empty PostgreSQL database of this test module, as a URL string."""
    return pg_database().render_as_string(hide_password=False)


# -- S3 -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """One moto S3 server for the session, "http://127.0.0.1:PORT". Its state lives as long:
    tests start from `s3_helpers.fresh_bucket`, which empties it."""
    server = start_moto()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
