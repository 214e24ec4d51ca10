"""Router state that survives a restart.

`StateStore` is the seam: the local server keeps one JSON file per graph under a state
folder; the platform can pass a store backed by its MetadataStore instead.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, Protocol

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


class JsonFileStateStore:
    """`<dir>/<graph>.state.json`, replaced atomically so a crash never leaves half a file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        self._cache: dict[str, dict[str, dict[str, Any]]] = {}

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
        return {k: dict(v) for k, v in data.items()}

    def save(self, graph: str, key: str, state: dict[str, Any]) -> None:
        with self._lock:
            data = self._cache.setdefault(graph, {})
            data[key] = dict(state)
            path = self._path(graph)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
                tmp.write_text(json.dumps(data, sort_keys=True))
                os.replace(tmp, path)
            except OSError as exc:
                raise StoreError(f"cannot write router state {str(path)!r}: {exc}") from exc
