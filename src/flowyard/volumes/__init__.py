"""Volumes: workspaces that outlive the notebook or step using them, with snapshots.

    from flowyard.volumes import Volumes, volume_resource

    vols = Volumes(meta, objects, settings)
    vols.create(volume_resource("ws", "team-a"))
    snap = vols.snapshot("team-a", "ws", "ws-monday")      # content-addressed, deduplicated
    vols.restore("team-a", "ws-monday", "ws-copy")           # a new volume from a snapshot
    vols.commit("team-a", "ws-monday", "datasets@master:/ws")   # a snapshot as a data commit
    vols.attach("team-a", "ws", "notebook/explore", "rw")    # refused for a 2nd writer

See docs/volumes.md.
"""

from __future__ import annotations

from flowyard.volumes.claims import Attachment, Claim, attach, current_claims, release
from flowyard.volumes.manager import Volumes, volume_resource

__all__ = ["Attachment", "Claim", "Volumes", "attach", "current_claims", "release",
           "volume_resource"]
