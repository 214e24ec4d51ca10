"""Helpers for the volume tests (a module of its own: `from conftest import ...` finds
whichever conftest was imported first when several test folders run in one process)."""

from __future__ import annotations

from flowyard.store.objects import ObjectStore


def blob_count(objects: ObjectStore) -> int:
    return sum(1 for _ in objects.iter_digests())
