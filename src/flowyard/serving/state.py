"""Router state that survives a restart.

`StateStore` is the seam: the local server keeps one JSON file per graph under a state
folder; the platform can pass a store backed by its MetadataStore instead.
"""

from __future__ import annotations

import copy
import fcntl
import json
import os
import threading
from pathlib import Path
from typing import Any, Final, Protocol, TypeGuard

from flowyard.errors import StoreError


class StateStore(Protocol):
    def load(self, graph: str) -> dict[str, dict[str, Any]]:
        """All saved node states of a graph, keyed `predictor/node`."""
        ...

    def save(self, graph: str, key: str, state: dict[str, Any]) -> None:
        """Persist one node's state (called after each feedback)."""
        ...


class MemoryStateStore:
    """No persistence: tests and throwaway servers."""

    def __init__(self) -> None:
        self._data: dict[str, dict[str, dict[str, Any]]] = {}

    def load(self, graph: str) -> dict[str, dict[str, Any]]:
        return {k: dict(v) for k, v in self._data.get(graph, {}).items()}

    def save(self, graph: str, key: str, state: dict[str, Any]) -> None:
        self._data.setdefault(graph, {})[key] = dict(state)


ADDITIVE: Final = {"success": 0.0, "tries": 0.0, "alpha": 1.0, "beta": 1.0}
"""Router state fields that count evidence, with the value a router starts from (Beta(1, 1)
for Thompson sampling): what two processes learned adds up."""


def merge_learning(stored: dict[str, Any] | None, before: dict[str, Any] | None,
                   now: dict[str, Any]) -> dict[str, Any]:
    """`now` with the evidence others added to `stored` since this process's `before`.

    Each additive field becomes stored + (now - before), element-wise; other fields (and
    anything whose shape differs, e.g. a router that got a child more) are `now`'s.
    """
    merged = dict(now)
    if not stored:
        return merged
    for field, start in ADDITIVE.items():
        mine, theirs = now.get(field), stored.get(field)
        if not (_numbers(mine) and _numbers(theirs) and len(mine) == len(theirs)):
            continue
        base = (before or {}).get(field)
        if not (_numbers(base) and len(base) == len(mine)):
            base = [start] * len(mine)
        merged[field] = [_same_type(m, t + m - b) for t, m, b in zip(theirs, mine, base,
                                                                      strict=True)]
    return merged


def _numbers(value: Any) -> TypeGuard[list[float]]:
    return isinstance(value, list) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in value)


def _same_type(like: Any, value: float) -> Any:
    return round(value) if isinstance(like, int) else float(value)


class JsonFileStateStore:
    """`<dir>/<graph>.state.json`, replaced atomically so a crash never leaves half a file.

    Several processes may serve one graph (`serve(workers=N)`), each learning from the
    feedback it gets. A save therefore merges instead of overwriting: under a lock on
    `<graph>.state.lock` it reads the file again and adds the evidence this process gathered
    since its last save (`merge_learning`), so no worker's feedback is lost to another's
    write. With one process the file simply holds its state.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        self._cache: dict[str, dict[str, dict[str, Any]]] = {}
        # Per graph and node: the state this process's own evidence was counted up to.
        self._counted: dict[str, dict[str, dict[str, Any]]] = {}

    def _path(self, graph: str) -> Path:
        return self.folder / f"{graph}.state.json"

    def load(self, graph: str) -> dict[str, dict[str, Any]]:
        path = self._path(graph)
        try:
            data = json.loads(path.read_text()) if path.exists() else {}
        except (OSError, ValueError) as exc:
            raise StoreError(f"router state file {str(path)!r} is unreadable: {exc}",
                             hint="delete it to start the routers from scratch") from exc
        if not isinstance(data, dict):
            raise StoreError(f"router state file {str(path)!r} does not hold a JSON object")
        self._cache[graph] = data
        self._counted[graph] = {k: copy.deepcopy(v) for k, v in data.items()
                                if isinstance(v, dict)}
        return {k: dict(v) for k, v in data.items()}

    def save(self, graph: str, key: str, state: dict[str, Any]) -> None:
        path = self._path(graph)
        with self._lock:
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
                with open(path.with_name(f"{graph}.state.lock"), "a") as lock:
                    fcntl.flock(lock, fcntl.LOCK_EX)   # released when the file closes
                    data = self._read_quietly(path, graph)
                    counted = self._counted.setdefault(graph, {})
                    stored = data.get(key)
                    data[key] = merge_learning(stored if isinstance(stored, dict) else None,
                                               counted.get(key), state)
                    tmp.write_text(json.dumps(data, sort_keys=True))
                    os.replace(tmp, path)
                    # A copy down to the lists: a router hands out the lists it then
                    # keeps counting in.
                    counted[key] = copy.deepcopy(state)
                    self._cache[graph] = data
            except OSError as exc:
                raise StoreError(f"cannot write router state {str(path)!r}: {exc}") from exc

    def _read_quietly(self, path: Path, graph: str) -> dict[str, Any]:
        """The file as another process may have left it; this process's copy if unreadable
        (a save must not fail on what a load would report)."""
        try:
            data = json.loads(path.read_text()) if path.exists() else {}
        except (OSError, ValueError):
            data = None
        if not isinstance(data, dict):
            data = dict(self._cache.get(graph, {}))
        return data
