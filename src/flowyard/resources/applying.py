"""Apply: store a resource as a user wrote it, over the one the platform already keeps.

A resource file carries what the user owns (labels, spec); the platform owns the `status`
its controllers write, `metadata.creationTimestamp`, and the store's own `metadata.uid` and
`metadata.generation` (see MetadataStore.put_resource). Re-applying a file must
not erase those, whichever runs the apply: the platform server's PUT or the in-process
client (`flowyard apply` without a login). Both call `apply_resource`.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from flowyard.errors import NotFound

if TYPE_CHECKING:
    from flowyard.store.metadata import MetadataStore


def merge_applied(body: dict[str, Any], existing: dict[str, Any] | None,
                  now: str) -> dict[str, Any]:
    """`body` with the server-owned fields of `existing` (None: a new resource made `now`).

    A status in `body` wins (a controller or a test writing one on purpose); an empty or
    missing one keeps the stored status. The generation is the store's to set.
    """
    data = copy.deepcopy(body)
    meta = data.setdefault("metadata", {})
    meta.pop("generation", None)
    if existing is None:
        meta["creationTimestamp"] = now
        return data
    old_meta = existing.get("metadata") or {}
    data["status"] = data.get("status") or existing.get("status") or {}
    meta["creationTimestamp"] = (old_meta.get("creationTimestamp")
                                 or meta.get("creationTimestamp") or now)
    return data


def apply_resource(metadata: MetadataStore, kind: str, namespace: str, name: str,
                   body: dict[str, Any]) -> tuple[int, bool]:
    """Create or update one resource keeping its server-owned fields; (generation, created)."""
    from flowyard.store.records import utcnow

    try:
        existing: dict[str, Any] | None = metadata.get_resource(kind, namespace, name)
    except NotFound:
        existing = None
    data = merge_applied(body, existing, utcnow().isoformat())
    return metadata.put_resource(kind, namespace, name, data), existing is None
