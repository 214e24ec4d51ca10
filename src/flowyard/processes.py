"""Is a process on this host alive? One answer for the engine, the platform and the CLI."""

from __future__ import annotations

import os
import socket


def pid_alive(pid: int) -> bool:
    """True while `pid` runs; a killed process nobody reaped yet (a zombie) counts as dead."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:
        pass  # no /proc (not Linux): fall back to a signal probe
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process holds the pid
    return True


def driver_alive(pid: int | None, host: str | None) -> bool:
    """Whether the process `pid` on `host` that drives a run or a job still runs: no pid is
    no driver; another host's processes cannot be seen, so such a driver is assumed alive."""
    if pid is None:
        return False
    if host and host != socket.gethostname():
        return True
    return pid_alive(pid)
