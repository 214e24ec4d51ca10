"""Idle culling from Jupyter's own activity API, as JupyterHub's idle culler does.

A server is active at the newest of `api/status` `last_activity` and its kernels'
`last_activity`; a busy kernel counts as active now. Culling stops the server and keeps
the workspace.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from flowyard.errors import RunFailed
from flowyard.notebooks.spawner import NotebookServer, Spawner, parse_time


def idle_since(server: NotebookServer, *, now: datetime | None = None) -> datetime:
    """When the server last saw activity (kernels included); `now` if a kernel is busy."""
    now = now or datetime.now(UTC)
    try:
        status = server.api("GET", "api/status")
        # no_track_activity: the culler's own look must not count as activity
        kernels = server.api("GET", "api/kernels", params={"no_track_activity": "1"})
        status.raise_for_status()
        kernels.raise_for_status()
        times = [parse_time(status.json()["last_activity"])]
        for kernel in kernels.json():
            if kernel.get("execution_state") == "busy":
                return now
            if kernel.get("last_activity"):
                times.append(parse_time(kernel["last_activity"]))
    except (httpx.HTTPError, KeyError, ValueError, TypeError) as exc:
        raise RunFailed(
            f"cannot read activity of notebook {server.profile}/{server.name} "
            f"at {server.url}: {exc}"
        ) from exc
    return max(times)


def cull_idle(spawner: Spawner, *, now: datetime | None = None) -> list[str]:
    """Stop every server idle longer than its notebook's idleTimeout; 'profile/name' culled."""
    culled: list[str] = []
    for server in spawner.servers():
        if not server.running():
            continue
        current = now or datetime.now(UTC)
        try:
            since = idle_since(server, now=current)
        except RunFailed:
            continue  # unreadable now; the next pass decides
        if (current - since).total_seconds() > server.notebook.spec.idle_timeout:
            spawner.stop(server.profile, server.name)
            culled.append(f"{server.profile}/{server.name}")
    return culled
