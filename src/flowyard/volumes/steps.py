"""Pipeline steps that work in a volume (`task.add_volume("ws")`).

A run is one holder of a volume, `run/<run id>`, however many of its steps use it: the claim
is taken when the first such step is about to run (read-write if any of them writes) and
released when the last one has finished, so loop iterations and parallel steps of one run
share it, while a notebook (or another run) writing the same non-shared volume meanwhile is
refused, and the step fails with the reason. The claim names the driver's pid: a driver that
dies (and its run, until resumed) holds nothing.

The step finds the folder in `FLOWYARD_VOLUME_<NAME>` (upper case, '-' as '_').
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from flowyard.errors import FlowyardError, InvalidInput
from flowyard.volumes import claims
from flowyard.volumes.folders import check_name, volume_path

if TYPE_CHECKING:
    from flowyard.resources.pipeline import Pipeline, PipelineSpec, StepVolume
    from flowyard.settings import Settings
    from flowyard.store.metadata import MetadataStore


def env_name(volume: str) -> str:
    return "FLOWYARD_VOLUME_" + volume.upper().replace("-", "_")


def check_step_volume(name: str, mount_path: str | None, read_only: bool) -> dict[str, Any]:
    """The `volumes` entry of a step, validated (the DSL's `add_volume`)."""
    check_name(name, "volume name", "volume names are DNS-1123 labels, e.g. 'explore-ws'")
    entry: dict[str, Any] = {"name": name}
    if mount_path is not None:
        if not isinstance(mount_path, str) or not mount_path.startswith("/"):
            raise InvalidInput(f"mount_path {mount_path!r} is not an absolute path",
                               hint="e.g. mount_path='/workspace'")
        entry["mountPath"] = mount_path
    if read_only:
        entry["readOnly"] = True
    return entry


def uses_volumes(spec: PipelineSpec) -> bool:
    return any(step.volumes for step in spec.all_steps())


class StepVolumes:
    """The volumes one run driver holds for its steps (in the driver process)."""

    def __init__(self, meta: MetadataStore, settings: Settings, run_id: str,
                 profile: str) -> None:
        self.meta = meta
        self.home = settings.home.expanduser()
        self.profile = profile
        self.holder = f"run/{run_id}"
        self.users: dict[str, dict[str, str]] = {}   # volume -> node id -> mode
        self.held: dict[str, str] = {}               # volume -> mode claimed

    def attach(self, node_id: str, volumes: list[StepVolume]) -> str | None:
        """Claim the step's volumes; the error text when one cannot be (nothing kept)."""
        done: list[str] = []
        for vol in volumes:
            mode = "ro" if vol.read_only else "rw"
            try:
                if self.held.get(vol.name) not in ("rw", mode):
                    got = claims.attach(self.meta, self.home, self.profile, vol.name,
                                        self.holder, mode, pid=os.getpid())
                    if got.phase != "Ready" or not got.path.is_dir():
                        raise InvalidInput(f"volume '{vol.name}' is {got.phase}, not Ready",
                                           hint="wait until `flowyard volume list` shows it "
                                           "Ready")
                    self.held[vol.name] = mode
            except FlowyardError as exc:
                for name in done:
                    self._drop(name, node_id)
                self._drop(vol.name, node_id)
                hint = f" ({exc.hint})" if exc.hint else ""
                return f"volume '{vol.name}': {exc.message}{hint}"
            self.users.setdefault(vol.name, {})[node_id] = mode
            done.append(vol.name)
        return None

    def env(self, volumes: list[StepVolume]) -> dict[str, str]:
        return {env_name(v.name): str(volume_path(self.home, self.profile, v.name))
                for v in volumes}

    def release(self, node_id: str) -> None:
        for name in [n for n, users in self.users.items() if node_id in users]:
            self._drop(name, node_id)

    def release_all(self) -> None:
        """The run ended: let go of everything it still holds."""
        for name in list(self.held):
            self.users.pop(name, None)
            del self.held[name]
            claims.release(self.meta, self.profile, name, self.holder)

    def _drop(self, name: str, node_id: str) -> None:
        users = self.users.get(name, {})
        users.pop(node_id, None)
        if not users and name in self.held:
            self.users.pop(name, None)
            del self.held[name]
            claims.release(self.meta, self.profile, name, self.holder)


def step_volumes(meta: MetadataStore, settings: Settings, run_id: str, profile: str,
                 pipeline: Pipeline) -> StepVolumes | None:
    """The run's `StepVolumes`, or None when no step uses a volume (nothing to do)."""
    if not uses_volumes(pipeline.spec):
        return None
    return StepVolumes(meta, settings, run_id, profile)
