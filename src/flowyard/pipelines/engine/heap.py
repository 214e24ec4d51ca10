"""Keep CPython's cyclic garbage collector off the start-up heap of a driver process.

After pydantic and the resource models are loaded a driver holds ~50,000 long-lived objects
(modules, classes; ~80,000 with SQLAlchemy, which a PostgreSQL store still loads). Every full
collection walks all of them: one during a 1,000-step run paused the scheduler for 30-80 ms
(a p99 spike), and the collections at interpreter exit cost 60-100 ms, a fifth of a short
`python pipeline.py`.

`gc.freeze()` moves the objects alive at that moment into a generation the collector never
walks. It is called once, when a process drives its first run (the heap is then mostly
imports that live as long as the process), and again in an atexit hook (memory is handed
back by the exit anyway; CPython never promised to run finalizers of objects still alive at
exit, and open files are flushed by their own finalizers and the io module's exit hook).
The price: a reference cycle that was already garbage at the first freeze is never
reclaimed (once per process, so bounded). `FLOWYARD_GC_FREEZE=0` turns both off.
"""

from __future__ import annotations

import atexit
import gc
import os

_DONE: set[str] = set()


def _enabled() -> bool:
    return os.environ.get("FLOWYARD_GC_FREEZE", "1").strip().lower() not in ("0", "false", "no")


def install_fast_exit() -> None:
    """Register the exit hook once per process."""
    if "exit" in _DONE or not _enabled():
        return
    _DONE.add("exit")
    atexit.register(gc.freeze)


def freeze_startup_heap() -> None:
    """Freeze what is alive now, the first time a run is driven in this process."""
    if "startup" in _DONE or not _enabled():
        return
    _DONE.add("startup")
    gc.freeze()
