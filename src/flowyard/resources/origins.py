"""Where a resource was read from: `Origin` (file, line map) and the table that keeps it
beside the resource, so that any later check can name file:line.

Free of PyYAML (the loader's import), so `dsl.compile` and the engine can use it on a run
that reports nothing.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic.alias_generators import to_camel

if TYPE_CHECKING:
    from flowyard.resources.base import Resource

__all__ = ["FieldPath", "Origin", "PathItem", "normal_path", "origin_of", "remember_origin"]

PathItem = str | int
FieldPath = tuple[PathItem, ...]


@dataclass(frozen=True)
class Origin:
    """Where a resource came from: a file, the line its document starts, and a line map."""

    file: str
    line: int
    lines: Mapping[FieldPath, int] = field(default_factory=dict, compare=False, repr=False)
    # Only for SDK pipelines, whose parts may be written in several files (a component
    # imported from another module): field path -> file, for the paths not in `file`.
    files: Mapping[FieldPath, str] = field(default_factory=dict, compare=False, repr=False)

    def line_of(self, path: Sequence[PathItem]) -> int | None:
        """Line of a field path, or of its nearest parent that has one."""
        return self.where(path)[1]

    def where(self, path: Sequence[PathItem]) -> tuple[str, int | None]:
        """(file, line) of a field path, or of its nearest parent that has a line."""
        current = normal_path(path)
        while current:
            found = self.lines.get(current)
            if found is not None:
                return self.files.get(current, self.file), found
            current = current[:-1]
        return self.file, self.line


def normal_path(path: Sequence[PathItem]) -> FieldPath:
    # `on_exit:` and `onExit:` are the same field (populate_by_name), so look both up alike.
    return tuple(to_camel(p) if isinstance(p, str) and "_" in p else p for p in path)


# Where a resource was read from (file, line map), kept beside the object rather than in
# it: a private attribute would take part in `==` and a field in the serialized form, and a
# resource read from a file must stay equal to the same resource built from plain data.
# Keyed by id() with a weak reference, so an entry goes away with its resource.
_ORIGINS: dict[int, tuple[weakref.ref[Resource[Any]], Origin]] = {}


def remember_origin(resource: Resource[Any], origin: Origin | None) -> None:
    """Record where `resource` came from; `origin_of` gives it back (None forgets it)."""
    key = id(resource)
    if origin is None:
        _ORIGINS.pop(key, None)
        return

    def forget(_ref: object, key: int = key) -> None:
        _ORIGINS.pop(key, None)

    _ORIGINS[key] = (weakref.ref(resource, forget), origin)


def origin_of(resource: Resource[Any]) -> Origin | None:
    """The file and line map `resource` was loaded (or compiled) from, if known.

    Set by the loader for resources read from YAML/JSON files and by `dsl.compile` for SDK
    pipelines; copies (`model_copy`) and resources parsed from plain data have none."""
    entry = _ORIGINS.get(id(resource))
    if entry is None or entry[0]() is not resource:
        return None
    return entry[1]
