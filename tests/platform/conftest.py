"""Platform fixtures: an anyio backend and a module-wide real platform process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from platform_helpers import LivePlatform, start_platform


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LivePlatform]:
    platform = start_platform(tmp_path_factory.mktemp("platform") / "home")
    try:
        yield platform
    finally:
        platform.stop()
