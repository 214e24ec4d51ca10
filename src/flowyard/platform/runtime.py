"""The platform's state: the stores, the engine and the controllers, shared by the API."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from flowyard.client.embedded import EmbeddedTransport
from flowyard.platform.controllers.data import DataController
from flowyard.platform.controllers.notebooks import NotebookController
from flowyard.platform.controllers.runs import RunController
from flowyard.platform.controllers.serving import ServingController
from flowyard.platform.controllers.volumes import VolumeController

if TYPE_CHECKING:
    from flowyard.platform.auth import Auth
    from flowyard.settings import Settings
    from flowyard.store.metadata import MetadataStore
    from flowyard.store.objects import ObjectStore

log = logging.getLogger("flowyard.platform")
RECONCILE_INTERVAL = 0.5


class Platform:
    """One per server process. `controllers=False` serves the API only (tests, read replicas)."""

    def __init__(self, settings: Settings, *, controllers: bool = True) -> None:
        self.settings = settings
        self.transport = EmbeddedTransport(settings)
        self.runs = RunController(self)
        self.serving = ServingController(self)
        self.data = DataController(self)
        self.notebooks = NotebookController(self)
        self.volumes = VolumeController(self)
        self.controllers = controllers
        self._task: asyncio.Task[None] | None = None
        self._auth: Auth | None = None

    @property
    def metadata(self) -> MetadataStore:
        return self.transport.metadata

    @property
    def auth(self) -> Auth:
        if self._auth is None:
            from flowyard.platform.auth import Auth

            self._auth = Auth(self.metadata)
        return self._auth

    @property
    def objects(self) -> ObjectStore:
        return self.transport.objects

    async def startup(self) -> None:
        self.metadata  # noqa: B018 - open (and migrate) the store before serving
        if self.controllers:
            self.runs.resume_orphans()
            self._task = asyncio.create_task(self._loop(), name="flowyard-controllers")

    async def _loop(self) -> None:
        while True:
            for name, step in (("serving", self.serving.reconcile),
                               ("data", self.data.reconcile),
                               ("notebooks", self.notebooks.reconcile),
                               ("volumes", self.volumes.reconcile)):
                try:
                    await step()
                except Exception:  # a controller bug must not stop the others
                    log.exception("%s controller failed; retrying", name)
            self.runs.reap()
            await asyncio.sleep(RECONCILE_INTERVAL)

    async def shutdown(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.runs.shutdown()
        await self.serving.shutdown()
        await self.data.shutdown()
        await self.notebooks.shutdown()
        await self.volumes.shutdown()
        self.transport.close()
