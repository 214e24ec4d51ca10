"""Volume operations a platform runs that are no resource of their own.

Creating, snapshotting, restoring and listing volumes go through the generic resource
routes (`Client.apply/get/list`); committing a snapshot into a data repo is a call of its
own (platform/volume_api.py), made here so the CLI does not build URLs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    from flowyard.client.http import HttpTransport
    from flowyard.data.records import Commit

API = "/api/v1alpha1"


def commit_snapshot(transport: HttpTransport, namespace: str, snapshot: str, target: str, *,
                    message: str = "") -> Commit | None:
    """Commit the snapshot's files at `target` (REPO@BRANCH[:/path], a repo of the same
    profile) on the platform; None when the target already held them with that provenance.
    """
    from flowyard.data.records import Commit
    from flowyard.data.refs import parse_target
    from flowyard.platform.codec import decode_record

    parse_target(target)  # a bad ref fails here, naming it, before any request
    url = (f"{API}/namespaces/{quote(namespace, safe='')}/volumesnapshots/"
           f"{quote(snapshot, safe='')}/commit")
    answer = transport._json("POST", url, json={"target": target, "message": message})
    made = answer.get("commit")
    return decode_record(Commit, made) if made else None
