"""Platform fixtures: an anyio backend and a module-wide real platform process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from platform_helpers import LivePlatform, Site, start_platform

from flowyard.platform.api import create_app
from flowyard.platform.runtime import Platform
from flowyard.settings import Settings


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


@pytest.fixture
async def site(flowyard_home: Path) -> AsyncIterator[Site]:
    """A fresh in-process platform (no controllers) on an empty FLOWYARD_HOME."""
    platform = Platform(Settings(), controllers=False)
    app = create_app(platform)
    await platform.startup()
    admin = platform.auth.bootstrap()
    assert admin is not None
    try:
        yield Site(app, admin)
    finally:
        await platform.shutdown()
