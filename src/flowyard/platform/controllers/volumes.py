"""Volumes and VolumeSnapshots applied through the API, made real on this machine.

Each pass: a Volume whose generation was not yet observed (new, or changed) is provisioned
(its folder created and filled from `source`); a VolumeSnapshot not yet Ready or Failed is
taken. Both are library calls (`flowyard.volumes.Volumes`) run in a worker thread, one at a
time per object, so a big restore or snapshot does not hold up the other controllers. A
snapshot that the platform was killed in the middle of is still pending on the next start
and is taken then; nothing half-done was published.

The folder of a volume deleted through the API (whose DELETE removes the record only) is
removed on the next pass, and every `SWEEP_SECONDS` leftovers of any kind are (after a
restart too), unless someone still holds the volume: then it stays until released.
Claims are mirrored into `status.attachments` so `flowyard get volumes -o yaml` shows who
uses a volume.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

import anyio.to_thread

from flowyard.errors import FlowyardError, NotFound

if TYPE_CHECKING:
    from flowyard.platform.runtime import Platform
    from flowyard.volumes import Volumes

log = logging.getLogger("flowyard.platform.volumes")
SWEEP_SECONDS = 30.0


class VolumeController:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.tasks: dict[tuple[str, str, str], asyncio.Task[None]] = {}
        self._volumes: Volumes | None = None
        self._last_sweep = 0.0
        self.known: set[tuple[str, str]] = set()

    @property
    def volumes(self) -> Volumes:
        if self._volumes is None:
            from flowyard.volumes import Volumes

            self._volumes = Volumes(self.platform.metadata, self.platform.objects,
                                    self.platform.settings, own_profile_data=True)
        return self._volumes

    async def reconcile(self) -> None:
        meta = self.platform.metadata
        for key, task in list(self.tasks.items()):
            if task.done():
                del self.tasks[key]
        volumes = meta.list_resources("Volume")
        for body in volumes:
            generation = body["metadata"].get("generation")
            status = body.get("status") or {}
            if status.get("observedGeneration") != generation or not status.get("phase"):
                self._spawn("Volume", body, self._provision)
            else:
                self._mirror_claims(body)
        for body in meta.list_resources("VolumeSnapshot"):
            if (body.get("status") or {}).get("phase") not in ("Ready", "Failed"):
                self._spawn("VolumeSnapshot", body, self._snapshot)
        live = {(b["metadata"]["namespace"], b["metadata"]["name"]) for b in volumes}
        gone, self.known = self.known - live, live
        if gone or time.monotonic() - self._last_sweep > SWEEP_SECONDS:
            # A volume deleted through the API: its folder goes now, not at the next sweep.
            self._last_sweep = time.monotonic()
            profiles = {ns for ns, _ in live | gone}
            await anyio.to_thread.run_sync(self._sweep, profiles)

    def _spawn(self, kind: str, body: dict[str, Any], work: Any) -> None:
        key = (kind, body["metadata"]["namespace"], body["metadata"]["name"])
        if key not in self.tasks:
            self.tasks[key] = asyncio.create_task(
                anyio.to_thread.run_sync(work, key[1], key[2]))

    def _provision(self, profile: str, name: str) -> None:
        try:
            volume = self.volumes.provision(profile, name)
            log.info("Volume %s/%s: %s", profile, name, volume.status.get("phase"))
        except NotFound:
            pass  # deleted meanwhile
        except FlowyardError as exc:
            log.warning("Volume %s/%s: %s", profile, name, exc.message)

    def _snapshot(self, profile: str, name: str) -> None:
        try:
            status = self.volumes.take_applied(profile, name)
            log.info("VolumeSnapshot %s/%s: %s", profile, name, status.get("phase"))
        except NotFound:
            pass

    def _mirror_claims(self, body: dict[str, Any]) -> None:
        profile, name = body["metadata"]["namespace"], body["metadata"]["name"]
        held = [c.to_dict() for c in self.volumes.claims(profile, name)]
        if (body.get("status") or {}).get("attachments", []) != held:
            self.volumes._set_status("Volume", profile, name, {"attachments": held},
                                     merge=True)

    def _sweep(self, profiles: set[str]) -> None:
        from flowyard.volumes import folders

        root = folders.volumes_root(self.volumes.home)
        if root.is_dir():
            profiles |= {p.name for p in root.iterdir() if p.is_dir()}
        meta = self.platform.metadata

        def keep(profile: str) -> Any:
            def exists(name: str) -> bool:
                try:
                    meta.get_resource("Volume", profile, name)
                    return True
                except NotFound:
                    return bool(self.volumes.claims(profile, name))  # held: keep for now
            return exists

        for profile in sorted(profiles):
            removed = folders.sweep(self.volumes.home, profile, keep(profile))
            if removed:
                log.info("volumes of %s removed (deleted or unfinished): %s", profile,
                         ", ".join(removed))

    async def shutdown(self) -> None:
        # Threads cannot be interrupted; an unfinished snapshot stays pending and is taken
        # again on the next start (nothing of it was published).
        for task in self.tasks.values():
            task.cancel()
        self.tasks.clear()
        if self._volumes is not None:
            self._volumes.close()
