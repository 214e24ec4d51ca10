"""One real Jupyter server per module, spawned from a Notebook resource."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from notebook_helpers import make_notebook

from flowyard.notebooks.spawner import NotebookServer, Spawner


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
