"""Notebook actions: start, stop, restart, and removing a deleted notebook's workspace.

    POST   /api/v1alpha1/namespaces/{ns}/notebooks/{name}/{start|stop|restart}
    DELETE /api/v1alpha1/namespaces/{ns}/notebooks/{name}/workspace
    GET    /api/v1alpha1/notebook-environments

Actions only change the resource (annotations, as Kubeflow's notebook controller reads
`kubeflow-resource-stopped`); the notebook controller makes it so on its next pass, and a
restarted platform sees the same wish. Creating, listing and deleting notebooks are the
generic resource routes.
"""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from flowyard.errors import Conflict, NotFound
from flowyard.platform.api import API, blocking, guarded
from flowyard.platform.auth import identity_of
from flowyard.platform.responses import JSONResponse

if TYPE_CHECKING:
    from flowyard.platform.runtime import Platform

ACTIONS = ("start", "stop", "restart")
KIND = "Notebook"


class NotebookApi:
    def __init__(self, platform: Platform) -> None:
        self.p = platform

    async def _allow(self, request: Request, what: str) -> tuple[str, str]:
        namespace, name = request.path_params["namespace"], request.path_params["name"]
        who = identity_of(request.scope)
        await blocking(self.p.auth.authorize, who, namespace, "edit", f"{KIND} {name!r}")
        return namespace, name

    async def action(self, request: Request) -> Response:
        action = request.path_params["action"]
        if action not in ACTIONS:
            raise NotFound(f"unknown notebook action {action!r}",
                           hint=f"actions: {', '.join(ACTIONS)}")
        namespace, name = await self._allow(request, action)
        who = identity_of(request.scope).name
        # Here, not at the top: the controller's modules are not on `flowyard up`'s path.
        from flowyard.platform.controllers.notebooks import mark_started, mark_stopped, now_iso

        if action == "stop":
            body = await blocking(mark_stopped, self.p, namespace, name,
                                  f"stopped by {who} at {now_iso()}; workspace kept")
        else:
            body = await blocking(mark_started, self.p, namespace, name,
                                  restart=action == "restart")
        return JSONResponse(body, status_code=202)

    async def environments(self, request: Request) -> Response:
        """The catalog, for pickers: which run on the platform's interpreter, which get (or
        already have) their own virtualenv."""
        from flowyard.notebooks import environments as envs

        home = self.p.settings.home
        items = [{"name": e.name, "description": e.description, "image": e.image,
                  "gpuImage": e.gpu_image, "packages": list(e.packages),
                  "local": ("base" if envs.uses_base(e) else
                            "ready" if envs.is_prepared(home, e) else "created on first use")}
                 for e in sorted(envs.catalog().values(), key=lambda e: e.name)]
        return JSONResponse({"items": items})

    async def delete_workspace(self, request: Request) -> Response:
        """Remove the files of a notebook that no longer exists (delete keeps them)."""
        namespace, name = await self._allow(request, "workspace")
        try:
            await blocking(self.p.metadata.get_resource, KIND, namespace, name)
        except NotFound:
            pass
        else:
            raise Conflict(f"{KIND} {name!r} in namespace {namespace!r} still exists; its "
                           "workspace is in use",
                           hint=f"delete the notebook first: flowyard notebook delete {name} "
                                f"-n {namespace} --purge")
        folder = self.p.settings.home / "notebooks" / namespace / name
        if not folder.is_dir():
            raise NotFound(f"no workspace of notebook {name!r} in namespace {namespace!r}",
                           hint=f"nothing at {folder}")
        await blocking(shutil.rmtree, folder)
        return JSONResponse({"status": "deleted", "namespace": namespace, "name": name,
                             "folder": str(folder)})


def notebook_routes(api: NotebookApi) -> list[Route]:
    item = f"{API}/namespaces/{{namespace}}/notebooks/{{name}}"
    return [
        Route(f"{API}/notebook-environments", guarded(api.environments), methods=["GET"]),
        Route(f"{item}/workspace", guarded(api.delete_workspace), methods=["DELETE"]),
        Route(f"{item}/{{action}}", guarded(api.action), methods=["POST"]),
    ]
