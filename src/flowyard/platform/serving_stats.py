"""`GET .../inferencegraphs/{name}/stats`: the running serving process's statistics.

The platform asks the graph's serving process (its `/stats`, see serving/stats.py) and adds
where it runs; the caller needs the view role in the graph's profile. A graph that is not
running (yet) answers 503 with the reason its status gives, not an empty document.
"""

from __future__ import annotations

from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from flowyard.errors import FlowyardError
from flowyard.platform.api import API, Api, blocking, guarded
from flowyard.platform.responses import JSONResponse

KIND: Final = "InferenceGraph"
TIMEOUT: Final = 5.0


class Unavailable(FlowyardError):
    headline = "not available"
    exit_code = 1
    status = 503


class ServingStats:
    def __init__(self, api: Api) -> None:
        self.api = api
        self.p = api.p

    async def stats(self, request: Request) -> Response:
        import httpx  # here: httpx (with its CLI's rich) is not on `flowyard up`'s path

        ns, name = request.path_params["namespace"], request.path_params["name"]
        await self.api.allow(request, ns, "view", f"{KIND} {name!r}")
        body: dict[str, Any] = await blocking(self.p.metadata.get_resource, KIND, ns, name)
        status = body.get("status") or {}
        ep = self.p.serving.endpoints.get((ns, name))
        if ep is None or ep.proc.poll() is not None:
            reason = status.get("reason") or "its serving process is not running"
            raise Unavailable(f"InferenceGraph {ns}/{name} is not serving: {reason}",
                              hint="check its status: flowyard get inferencegraph " + name)
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT) as http:
                answer = await http.get(f"{ep.url}/stats")
            answer.raise_for_status()
            doc: dict[str, Any] = answer.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise Unavailable(f"InferenceGraph {ns}/{name}: its serving process did not "
                              f"answer /stats: {exc}",
                              hint="it may still be starting; try again") from exc
        doc.update(namespace=ns, name=name, ready=bool(status.get("ready")),
                   generation=ep.generation, restarts=ep.restarts)
        return JSONResponse(doc)


def serving_stats_routes(api: Api) -> list[Route]:
    stats = ServingStats(api)
    return [Route(f"{API}/namespaces/{{namespace}}/inferencegraphs/{{name}}/stats",
                  guarded(stats.stats), methods=["GET"])]
