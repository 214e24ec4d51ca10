"""Read-only views the dashboard needs and the resource API does not give directly: a run's
step graph (from the pipeline snapshot the run keeps), a stored pipeline's graph, and the
metrics of a pipeline's recent runs (for charts across runs).

Access follows the API: runs need a role in their profile (404 otherwise); lists cover the
caller's profiles only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from flowyard.errors import InvalidInput
from flowyard.platform.api import API, Api, blocking, guarded, query_int
from flowyard.platform.responses import JSONResponse

if TYPE_CHECKING:
    from flowyard.platform.runtime import Platform

METRIC_TYPES = frozenset({"Metrics", "ClassificationMetrics"})
PREVIEW_CSP = ("sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
               "font-src data:")
IMAGES = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg",
          b"GIF87a": "image/gif", b"GIF89a": "image/gif"}


def preview_type(kind: str, name: str, data: bytes) -> str:
    """The media type an artifact is previewed as (never one that runs code)."""
    for magic, media in IMAGES.items():
        if data.startswith(magic):
            return media
    if kind == "HTML" or name.lower().endswith((".html", ".htm")):
        return "text/html; charset=utf-8"
    return "text/plain; charset=utf-8"


def pipeline_graph(body: dict[str, Any]) -> dict[str, Any]:
    """`{nodes, edges}` of a Pipeline resource body: one node per step (the exit handler
    flagged), an edge per dependency, `kind` "data" when outputs flow, "order" for `after`."""
    from flowyard.resources.loader import parse_resource
    from flowyard.resources.pipeline import Pipeline

    resource = parse_resource(body)
    if not isinstance(resource, Pipeline):
        raise InvalidInput(f"expected a Pipeline, got kind {resource.kind!r}")
    from flowyard.pipelines.validate import dependencies

    spec = resource.spec
    deps = dependencies(resource)
    exit_name = spec.on_exit.name if spec.on_exit else None
    nodes = []
    for step in spec.all_steps():
        nodes.append({"name": step.name, "component": step.component,
                      "displayName": step.display_name, "loop": step.for_each is not None,
                      "condition": step.when is not None, "exitHandler": step.name == exit_name,
                      "cache": step.cache})
    edges = []
    by_name = {s.name: s for s in spec.all_steps()}
    for name, found in deps.items():
        site = by_name.get(name)
        read = {r.step for r in _refs(site)} if site is not None else set()
        edges += [{"source": s, "target": name, "kind": "data" if s in read else "order"}
                  for s in sorted(found) if s in by_name]
    return {"pipeline": resource.name, "description": spec.description, "nodes": nodes,
            "edges": edges,
            "parameters": [{"name": p.name, "type": p.type.value, "description": p.description,
                            "default": p.default if p.has_default else None}
                           for p in spec.parameters]}


def _refs(step: Any) -> list[Any]:
    """Every reference a step reads: arguments, its loop source and its condition."""
    refs = list(step.arguments.values())
    if step.for_each is not None:
        refs.append(step.for_each)
    if step.when is not None:
        refs.extend(step.when.refs())
    return refs


def scalar_metrics(artifacts: list[Any]) -> list[dict[str, Any]]:
    """Numeric values logged on Metrics artifacts, one row per (step, artifact, metric)."""
    rows = []
    for art in artifacts:
        if art.type not in METRIC_TYPES:
            continue
        for key, value in sorted((art.metadata or {}).items()):
            if isinstance(value, int | float) and not isinstance(value, bool):
                rows.append({"step": art.step_id, "artifact": art.name, "name": key,
                             "value": value})
    return rows


class Views:
    def __init__(self, platform: Platform) -> None:
        self.p = platform
        self.api = Api(platform)

    async def run_graph(self, request: Request) -> Response:
        run = await self.api.run_for(request, request.path_params["run"], "view")
        graph = await blocking(pipeline_graph, run.pipeline)
        return JSONResponse({"run": run.id, **graph})

    async def pipeline_graph(self, request: Request) -> Response:
        namespace, name = request.path_params["namespace"], request.path_params["name"]
        await self.api.allow(request, namespace, "view", f"Pipeline {name!r}")
        body = await blocking(self.p.metadata.get_resource, "Pipeline", namespace, name)
        return JSONResponse(await blocking(pipeline_graph, body))

    async def metrics(self, request: Request) -> Response:
        """Scalar metrics of recent runs: `?pipeline=` (required), `namespace`, `limit`."""
        q = request.query_params
        pipeline = q.get("pipeline")
        if not pipeline:
            raise InvalidInput(f"GET {API}/metrics needs ?pipeline=NAME")
        limit = query_int(request, "limit", 20, low=1, high=200)
        namespace = q.get("namespace")
        if namespace:
            await self.api.allow(request, namespace, "view", "runs")
        spaces = [namespace] if namespace else await self.api.visible(request)
        records = await blocking(self._runs, spaces, pipeline, limit)
        items = []
        for run in records:
            arts = await blocking(self.p.metadata.list_artifacts, run_id=run.id)
            items.append({"run": run.id, "namespace": run.namespace, "state": run.state,
                          "pipeline": run.pipeline_name, "parameters": run.parameters,
                          "created_at": run.created_at.isoformat(),
                          "metrics": scalar_metrics(arts)})
        return JSONResponse({"items": items})

    async def artifact_preview(self, request: Request) -> Response:
        """A file artifact's bytes for an <iframe> or <img>: HTML as text/html, images as
        themselves, anything else as UTF-8 text; always under a sandbox CSP (no scripts, an
        opaque origin), so a run's HTML cannot act as the logged-in user."""
        record = await self.api.artifact_for(request, request.path_params["artifact"])
        if record.is_tree:
            raise InvalidInput(f"artifact {record.id!r} is a folder; download it as a tar "
                               f"from {API}/artifacts/{record.id}/content")
        data = await blocking(self.p.objects.get_bytes, record.digest)
        return Response(data, media_type=preview_type(record.type, record.name, data),
                        headers={"Content-Security-Policy": PREVIEW_CSP,
                                 "X-Content-Type-Options": "nosniff",
                                 "Cache-Control": "private, max-age=3600"})

    def _runs(self, spaces: list[str] | None, pipeline: str, limit: int) -> list[Any]:
        meta = self.p.metadata
        if spaces is None:
            return list(meta.list_runs(pipeline=pipeline, limit=limit))
        found: list[Any] = []
        for space in spaces:
            found += meta.list_runs(namespace=space, pipeline=pipeline, limit=limit)
        found.sort(key=lambda r: r.created_at, reverse=True)
        return found[:limit]


def view_routes(views: Views) -> list[Route]:
    g = guarded
    return [
        Route(f"{API}/runs/{{run}}/graph", g(views.run_graph), methods=["GET"]),
        Route(f"{API}/namespaces/{{namespace}}/pipelines/{{name}}/graph",
              g(views.pipeline_graph), methods=["GET"]),
        Route(f"{API}/metrics", g(views.metrics), methods=["GET"]),
        Route(f"{API}/artifacts/{{artifact}}/preview", g(views.artifact_preview),
              methods=["GET"]),
    ]
