"""Volume snapshots into data repos, over HTTP: what `flowyard --server URL volume commit` calls.

    POST /api/v1alpha1/namespaces/{ns}/volumesnapshots/{name}/commit
         {"target": "REPO@BRANCH[:/path]", "message": "..."}

Creating, snapshotting, restoring and listing volumes are the generic resource routes (the
volume controller makes an applied Volume or VolumeSnapshot real). Committing a snapshot is
no resource: it writes a data commit whose entries point at the snapshot's chunks (no bytes
travel) with the snapshot's commit as provenance, so it runs here, next to the stores.

The caller needs the edit role in the profile (it writes a data commit there); the target
repo must belong to the same profile, and one of another profile answers 404 exactly as a
missing one does, as the data routes do (data_api.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from flowyard.errors import InvalidInput
from flowyard.platform.api import API, Api, blocking, guarded, json_body
from flowyard.platform.codec import encode_record
from flowyard.platform.responses import JSONResponse

if TYPE_CHECKING:
    from flowyard.data.records import Commit


class VolumeApi:
    def __init__(self, api: Api) -> None:
        self.api = api
        self.p = api.p

    async def commit(self, request: Request) -> Response:
        """Commit a Ready snapshot's files at `target`; 201 with the commit, or 200 with
        `changed: false` when the target already held them with that provenance."""
        from flowyard.data.refs import parse_target

        ns, name = request.path_params["namespace"], request.path_params["name"]
        await self.api.allow(request, ns, "edit", f"data commit of VolumeSnapshot {name!r}")
        body = await json_body(request)
        if not isinstance(body, dict) or not isinstance(body.get("target"), str):
            raise InvalidInput(
                f"POST {request.url.path} expects {{target, message}}, got "
                f"{type(body).__name__ if not isinstance(body, dict) else sorted(body)}",
                hint='e.g. {"target": "datasets@master:/explore", "message": "monday"}')
        target, message = body["target"], body.get("message") or ""
        if not isinstance(message, str):
            raise InvalidInput(f"field message={message!r} is not a string")
        try:
            parse_target(target)
        except InvalidInput as exc:
            raise InvalidInput(f"field target={target!r}: {exc.message}", hint=exc.hint) from None
        commit = await blocking(self._commit, ns, name, target, message)
        answer: dict[str, Any] = {"changed": commit is not None,
                                  "commit": None if commit is None else encode_record(commit)}
        return JSONResponse(answer, status_code=201 if commit is not None else 200)

    def _commit(self, ns: str, snapshot: str, target: str, message: str) -> Commit | None:
        from flowyard.volumes import Volumes

        # own_profile_data: a target repo of another profile answers 404 like a missing one.
        volumes = Volumes(self.p.metadata, self.p.objects, self.p.settings,
                          own_profile_data=True)
        try:
            return volumes.commit(ns, snapshot, target, message=message)
        finally:
            volumes.close()


def volume_routes(api: Api) -> list[Route]:
    item = f"{API}/namespaces/{{namespace}}/volumesnapshots/{{name}}"
    return [Route(f"{item}/commit", guarded(VolumeApi(api).commit), methods=["POST"])]
