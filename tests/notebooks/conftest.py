"""One real Jupyter server per module, spawned from a Notebook resource; the platform's
test helpers (tests/platform) for the end-to-end tests."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from notebook_helpers import make_notebook

from flowyard.notebooks.spawner import NotebookServer, Spawner

PLATFORM_TESTS = str(Path(__file__).parent.parent / "platform")
if PLATFORM_TESTS not in sys.path:
    sys.path.append(PLATFORM_TESTS)  # platform_helpers: start_platform, wait_for


@pytest.fixture(scope="module")
def nb_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("flowyard-home")


@pytest.fixture(scope="module")
def spawner(nb_home: Path) -> Iterator[Spawner]:
    spawner = Spawner(nb_home, start_timeout=60)
    try:
        yield spawner
    finally:
        spawner.stop_all()  # never leave a Jupyter process behind


@pytest.fixture(scope="module")
def server(spawner: Spawner) -> NotebookServer:
    return spawner.start(make_notebook("explore"))
