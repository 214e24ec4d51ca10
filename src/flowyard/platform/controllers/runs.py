"""Pipeline runs driven by `python -m flowyard.client.driver` children of the platform.

A run the platform accepted is marked `options.driver = "platform"`; when the platform
starts, every such run that is not finished and has no live driver is resumed
(`Engine.resume`: finished steps stay, the rest run again).
"""

from __future__ import annotations

import logging
import subprocess
from typing import TYPE_CHECKING

from flowyard.client.embedded import settings_env
from flowyard.platform import procs

if TYPE_CHECKING:
    from flowyard.client.transport import DriverMode
    from flowyard.platform.runtime import Platform

log = logging.getLogger("flowyard.platform.runs")
PLATFORM_DRIVER = "platform"


class RunController:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.drivers: dict[str, subprocess.Popen[bytes]] = {}

    def mark(self, run_id: str) -> None:
        """Record that the platform owns this run (so a restart resumes it)."""
        meta = self.platform.metadata
        run = meta.get_run(run_id)
        meta.update_run(run_id, options={**run.options, "driver": PLATFORM_DRIVER})

    def start(self, run_id: str, mode: DriverMode) -> None:
        """Drive the run in a child process (call from the event-loop thread)."""
        self.reap()
        current = self.drivers.get(run_id)
        if current is not None and current.poll() is None:
            return
        settings = self.platform.settings
        logfile = settings.ensure_home() / "logs" / run_id / "driver.log"
        self.drivers[run_id] = procs.spawn(["-m", "flowyard.client.driver", mode, run_id],
                                           log=logfile, env=settings_env(settings))
        log.info("run %s: %s driver pid %d", run_id, mode, self.drivers[run_id].pid)

    def reap(self) -> None:
        for run_id, proc in list(self.drivers.items()):
            if proc.poll() is not None:
                del self.drivers[run_id]

    def orphans(self) -> list[str]:
        """Unfinished platform runs nobody drives (the platform stopped or crashed)."""
        meta = self.platform.metadata
        found: list[str] = []
        for state in ("Pending", "Running"):
            for run in meta.list_runs(state=state, limit=100_000):
                if run.options.get("driver") != PLATFORM_DRIVER or run.id in self.drivers:
                    continue
                if run.state == "Running":
                    # Here: the engine's modules are only needed when a run was running.
                    from flowyard.pipelines.engine.engine import driver_alive

                    if driver_alive(run):
                        continue
                found.append(run.id)
        return found

    def resume_orphans(self) -> list[str]:
        ids = self.orphans()
        for run_id in ids:
            log.info("run %s: resuming after a platform restart", run_id)
            self.start(run_id, "resume")
        return ids

    def shutdown(self) -> None:
        # Stopped drivers leave their runs Running with a dead driver: the next start
        # resumes them, exactly as after a crash.
        for proc in self.drivers.values():
            procs.stop(proc)
        self.drivers.clear()
