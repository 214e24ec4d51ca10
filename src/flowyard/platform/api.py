"""The REST API: resources, runs, logs, artifacts, watch streams, health and OpenAPI.

Handlers are async so that run drivers are spawned from the event-loop thread (see
`procs`); store calls, which block, go to the thread pool.
"""

from __future__ import annotations

import asyncio
import io
import json
import tarfile
import tempfile
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from flowyard.errors import Conflict, FlowyardError, InvalidInput, NotFound, ResourceInvalid
from flowyard.platform.auth import Identity, identity_of
from flowyard.platform.codec import encode_error, encode_record, json_safe
from flowyard.platform.responses import JSONResponse
from flowyard.platform.selectors import decode_continue, encode_continue, matches, parse_selector
from flowyard.store.records import TERMINAL_RUN_STATES
from flowyard.store.values import json_loads

if TYPE_CHECKING:
    from flowyard.platform.runtime import Platform

API = "/api/v1alpha1"
WATCH_INTERVAL = 0.25
T = TypeVar("T")
Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def plurals() -> dict[str, str]:
    from flowyard.resources import KINDS

    return {kind.lower() + "s": kind for kind in KINDS}


def kind_of(plural: str) -> str:
    table = plurals()
    kind = table.get(plural.lower())
    if kind is None:
        known = ", ".join(f"{p} ({k})" for p, k in sorted(table.items()))
        raise NotFound(f"unknown resource type {plural!r}", hint=f"known types: {known}")
    return kind


def status_of(exc: FlowyardError) -> int:
    """The HTTP status for `exc`: an invalid resource (field problems) is 422, as Kubernetes
    answers; other bad input (query parameters, malformed JSON) stays 400."""
    if isinstance(exc, ResourceInvalid):
        return 422
    return exc.status if exc.status >= 400 else 500


def error_response(exc: FlowyardError) -> JSONResponse:
    return JSONResponse(encode_error(exc), status_code=status_of(exc))


def guarded(handler: Handler) -> Handler:
    """Map the FlowyardError tree to status codes, once, for every route."""

    async def wrapper(request: Request) -> Response:
        try:
            return await handler(request)
        except FlowyardError as exc:
            return error_response(exc)

    wrapper.__name__ = handler.__name__
    wrapper.__doc__ = handler.__doc__
    return wrapper


async def blocking(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return await run_in_threadpool(fn, *args, **kwargs)


class PayloadTooLarge(FlowyardError):
    headline = "request too large"
    exit_code = 2
    status = 413


MAX_JSON_BODY = 16 << 20
"""A JSON body (a resource, a run) is small; a bigger one is refused before it is all read."""


async def json_body(request: Request) -> Any:
    declared = request.headers.get("content-length", "")
    too_big = PayloadTooLarge(
        f"{request.method} {request.url.path}: the JSON body is larger than "
        f"{MAX_JSON_BODY >> 20} MiB", hint="data goes to the data routes (streamed uploads)")
    if declared.isdigit() and int(declared) > MAX_JSON_BODY:
        raise too_big
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_JSON_BODY:
            raise too_big
        chunks.append(chunk)
    raw = b"".join(chunks)
    try:
        # The store's JSON reading: a non-finite float sent as {"$nonfinite": "inf"} (how the
        # HTTP client writes one, JSON having none) becomes the float again.
        return json_loads(raw or b"null")
    except ValueError as exc:
        raise InvalidInput(f"{request.method} {request.url.path}: the body is not JSON: {exc}",
                           hint="send Content-Type: application/json") from exc


def query_int(request: Request, name: str, default: int, *, low: int = 0,
              high: int = 100_000) -> int:
    text = request.query_params.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise InvalidInput(f"query parameter {name}={text!r} is not an integer in "
                           f"{low}..{high}")
    return value


def query_bool(request: Request, name: str) -> bool:
    return request.query_params.get(name, "").lower() in ("1", "true", "yes")


def sse(event: str, data: Any) -> bytes:
    text = json.dumps(json_safe(data), default=str, allow_nan=False)
    return f"event: {event}\ndata: {text}\n\n".encode()


class Api:
    def __init__(self, platform: Platform) -> None:
        self.p = platform

    # -- access: every namespace is a profile (see auth.Auth.authorize) ---------------------
    async def allow(self, request: Request, namespace: str, need: str, what: str) -> Identity:
        who = identity_of(request.scope)
        await blocking(self.p.auth.authorize, who, namespace, need, what)
        return who

    async def visible(self, request: Request) -> list[str] | None:
        return await blocking(self.p.auth.visible, identity_of(request.scope))

    async def run_for(self, request: Request, run_id: str, need: str) -> Any:
        """The run, if the caller may see it (404 otherwise: its existence must not leak)."""
        run = await blocking(self.p.metadata.get_run, run_id)
        try:
            await self.allow(request, run.namespace, need, f"run {run_id!r}")
        except NotFound:
            raise NotFound(f"run '{run_id}' not found", hint="flowyard runs list") from None
        return run

    # -- health -----------------------------------------------------------------------------
    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        await blocking(self.p.metadata.list_runs, limit=1)
        return JSONResponse({"status": "ready"})

    async def openapi(self, request: Request) -> Response:
        from flowyard.platform.openapi import openapi_document

        return JSONResponse(openapi_document())

    async def kinds(self, request: Request) -> Response:
        return JSONResponse({"kinds": [{"kind": k, "plural": p}
                                       for p, k in sorted(plurals().items())]})

    # -- resources --------------------------------------------------------------------------
    async def list_resources(self, request: Request) -> Response:
        kind = kind_of(request.path_params["plural"])
        namespace = request.path_params.get("namespace")
        allowed: list[str] | None = None
        if namespace is not None:
            await self.allow(request, namespace, "view", f"{kind} list")
        else:
            allowed = await self.visible(request)
        selector = parse_selector(request.query_params.get("labelSelector", ""))
        if query_bool(request, "watch"):
            return StreamingResponse(self._watch(kind, namespace, selector, allowed),
                                     media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache"})
        limit = query_int(request, "limit", 0)
        token = request.query_params.get("continue")
        after = decode_continue(token) if token else None
        bodies = await blocking(self.p.metadata.list_resources, kind, namespace)
        items = [b for b in bodies if matches(b, selector)
                 and (allowed is None or _key(b)[0] in allowed)]
        if after is not None:
            items = [b for b in items if _key(b) > after]
        next_token = None
        if limit and len(items) > limit:
            items = items[:limit]
            next_token = encode_continue(*_key(items[-1]))
        return JSONResponse({"apiVersion": "flowyard.dev/v1alpha1", "kind": f"{kind}List",
                             "metadata": {"continue": next_token}, "items": items})

    async def _watch(self, kind: str, namespace: str | None, selector: list[Any],
                     allowed: list[str] | None = None) -> AsyncIterator[bytes]:
        """ADDED/MODIFIED/DELETED events as the stored resources change (polling the store,
        so changes by any process, the controllers included, are seen)."""
        known: dict[tuple[str, str], str] = {}
        first = True
        while True:
            bodies = await blocking(self.p.metadata.list_resources, kind, namespace)
            now = {_key(b): b for b in bodies if matches(b, selector)
                   and (allowed is None or _key(b)[0] in allowed)}
            for key, body in now.items():
                digest = json.dumps(body, sort_keys=True, default=str)
                if key not in known:
                    yield sse("ADDED", {"type": "ADDED", "object": body})
                elif known[key] != digest:
                    yield sse("MODIFIED", {"type": "MODIFIED", "object": body})
                known[key] = digest
            for key in [k for k in known if k not in now]:
                del known[key]
                yield sse("DELETED", {"type": "DELETED", "object": {
                    "kind": kind, "metadata": {"namespace": key[0], "name": key[1]}}})
            if first:
                first = False
                yield sse("SYNCED", {"type": "SYNCED"})
            await asyncio.sleep(WATCH_INTERVAL)

    async def get_resource(self, request: Request) -> Response:
        kind = kind_of(request.path_params["plural"])
        await self.allow(request, request.path_params["namespace"], "view",
                         f"{kind} {request.path_params['name']!r}")
        body = await blocking(self.p.metadata.get_resource, kind,
                              request.path_params["namespace"], request.path_params["name"])
        return JSONResponse(body)

    async def apply_resource(self, request: Request) -> Response:
        """Create or update (PUT on the name, or POST to the collection)."""
        kind = kind_of(request.path_params["plural"])
        namespace = request.path_params["namespace"]
        name = request.path_params.get("name")
        await self.allow(request, namespace, "edit", f"{kind} {name!r}" if name else f"{kind}s")
        body = await json_body(request)
        if not isinstance(body, dict):
            raise InvalidInput(f"{request.url.path}: expected a {kind} resource object, got "
                               f"{type(body).__name__}")
        body.setdefault("kind", kind)
        meta = body.setdefault("metadata", {})
        if isinstance(meta, dict):
            meta.setdefault("namespace", namespace)
            if "name" in request.path_params:
                meta.setdefault("name", request.path_params["name"])
        stored, created = await blocking(self._apply, kind, namespace,
                                         request.path_params.get("name"), body)
        return JSONResponse(stored, status_code=201 if created else 200)

    def _apply(self, kind: str, namespace: str, name: str | None,
               body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        from flowyard.resources.loader import parse_resource

        resource = parse_resource(body)
        if resource.kind != kind:
            raise InvalidInput(f"kind {resource.kind!r} does not match the URL's {kind!r}",
                               hint=f"PUT it to {API}/namespaces/{namespace}/"
                                    f"{resource.kind.lower()}s/{resource.name}")
        if resource.namespace != namespace or (name is not None and resource.name != name):
            raise InvalidInput(
                f"metadata {resource.namespace}/{resource.name} does not match the URL's "
                f"{namespace}/{name or resource.name}",
                hint="send the resource to the URL of its own namespace and name")
        from flowyard.resources.applying import merge_applied
        from flowyard.store.records import utcnow

        meta = self.p.metadata
        # Read before the check: DataPipelines.create stores the resource it checks, without
        # the status the controller wrote.
        try:
            existing: dict[str, Any] | None = meta.get_resource(kind, namespace, resource.name)
        except NotFound:
            existing = None
        if kind == "DataPipeline":
            self._check_data_pipeline(resource)
        data = merge_applied(resource.to_dict(), existing, utcnow().isoformat())
        meta.put_resource(kind, namespace, resource.name, data)
        return meta.get_resource(kind, namespace, resource.name), existing is None

    def _check_data_pipeline(self, resource: Any) -> None:
        # Input repos must exist and outputs must not collide; DataPipelines.create checks
        # and creates the output repo. The platform then stores the full body itself.
        from flowyard.data.pipelines import DataPipelines

        DataPipelines(self.p.data.store, resource.namespace).create(resource, update=True)

    async def delete_resource(self, request: Request) -> Response:
        kind = kind_of(request.path_params["plural"])
        namespace, name = request.path_params["namespace"], request.path_params["name"]
        await self.allow(request, namespace, "edit", f"{kind} {name!r}")
        if kind == "DataPipeline":
            # Through the data layer, which also releases its output repo (see docs/data.md).
            from flowyard.data.pipelines import DataPipelines

            await blocking(DataPipelines(self.p.data.store, namespace).delete, name)
        else:
            await blocking(self.p.metadata.delete_resource, kind, namespace, name)
        return JSONResponse({"status": "deleted", "kind": kind, "namespace": namespace,
                             "name": name})

    # -- runs -------------------------------------------------------------------------------
    async def submit_run(self, request: Request) -> Response:
        body = await json_body(request)
        if not isinstance(body, dict) or not isinstance(body.get("pipeline"), dict):
            raise InvalidInput("POST /runs expects {pipeline: <Pipeline resource>, "
                               "parameters: {...}, cache, namespace, labels, start}")
        body["namespace"] = body.get("namespace") or self.p.settings.namespace
        await self.allow(request, str(body["namespace"]), "edit", "runs")
        record = await blocking(self._submit, body)
        if body.get("start", True):
            self.p.runs.start(record.id, "execute")
        return JSONResponse(encode_record(record), status_code=201)

    def _submit(self, body: dict[str, Any]) -> Any:
        from flowyard.client.files import load_pipeline

        pipeline = load_pipeline(body["pipeline"])
        record = self.p.transport.submit(
            pipeline, body.get("parameters") or {}, cache=bool(body.get("cache", True)),
            namespace=body.get("namespace"), labels=body.get("labels"))
        self.p.runs.mark(record.id)
        return self.p.metadata.get_run(record.id)

    async def list_runs(self, request: Request) -> Response:
        q = request.query_params
        limit, offset = query_int(request, "limit", 50, low=1), query_int(request, "offset", 0)
        namespace = q.get("namespace")
        if namespace:
            await self.allow(request, namespace, "view", "runs")
        spaces = [namespace] if namespace else await self.visible(request)
        token = q.get("continue")
        after = _run_cursor(token) if token else None
        snapshot = query_bool(request, "snapshot")  # pipeline snapshots: GET /runs/{run}
        if spaces is None:
            records = await blocking(self.p.metadata.list_runs, namespace=None,
                                     pipeline=q.get("pipeline"), state=q.get("state"),
                                     limit=limit, offset=offset, after=after,
                                     snapshot=snapshot)
        else:
            # One query per profile, merged newest first: a user has few profiles.
            records = []
            for space in spaces:
                records += await blocking(self.p.metadata.list_runs, namespace=space,
                                          pipeline=q.get("pipeline"), state=q.get("state"),
                                          limit=limit + offset, offset=0, after=after,
                                          snapshot=snapshot)
            records.sort(key=lambda r: (r.created_at, r.id), reverse=True)
            records = records[offset:offset + limit]
        # Keyset paging: the next page starts after this page's last run (created_at, id).
        next_token = (encode_continue(records[-1].created_at.isoformat(), records[-1].id)
                      if len(records) == limit else None)
        return _runs_page(records, next_token)

    async def get_run(self, request: Request) -> Response:
        record = await self.run_for(request, request.path_params["run"], "view")
        return JSONResponse(encode_record(record))

    async def run_steps(self, request: Request) -> Response:
        await self.run_for(request, request.path_params["run"], "view")
        steps = await blocking(self.p.transport.get_steps, request.path_params["run"])
        return JSONResponse({"items": [encode_record(s) for s in steps]})

    async def run_action(self, request: Request) -> Response:
        run_id, action = request.path_params["run"], request.path_params["action"]
        run = await self.run_for(request, run_id, "edit")
        if action == "cancel":
            record = await blocking(self.p.transport.cancel, run_id)
            return JSONResponse(encode_record(record))
        mode = request.query_params.get("mode", "execute") if action == "start" else action
        if mode not in ("execute", "retry", "resume"):
            raise NotFound(f"unknown run action {action!r} (mode {mode!r})",
                           hint="actions: start?mode=execute|retry|resume, cancel, retry, "
                                "resume")
        if mode == "retry" and run.state not in ("Failed", "Cancelled"):
            raise Conflict(f"run {run_id} is {run.state}; only Failed or Cancelled runs can "
                           "be retried")
        if mode == "resume" and run.state in TERMINAL_RUN_STATES:
            raise Conflict(f"run {run_id!r} already finished ({run.state})",
                           hint=f"use retry to re-run its failed steps: flowyard runs retry "
                                f"{run_id}")
        if mode == "resume" and await blocking(_driven_elsewhere, run):
            raise Conflict(f"run {run_id!r} is still driven by process {run.driver_pid}",
                           hint="wait for it, or cancel the run first")
        await blocking(self.p.runs.mark, run_id)
        self.p.runs.start(run_id, mode)  # type: ignore[arg-type]
        record = await blocking(self.p.metadata.get_run, run_id)
        return JSONResponse(encode_record(record), status_code=202)

    async def step_log(self, request: Request) -> Response:
        run_id, step_id = request.path_params["run"], request.path_params["step"]
        await self.run_for(request, run_id, "view")
        offset = query_int(request, "offset", 0, high=2**62)
        data = await blocking(self.p.transport.read_log, run_id, step_id, offset)
        if not query_bool(request, "follow"):
            return Response(data, media_type="application/octet-stream")
        return StreamingResponse(self._follow(run_id, step_id, offset, data),
                                 media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})

    async def _follow(self, run_id: str, step_id: str, offset: int,
                      first: bytes) -> AsyncIterator[bytes]:
        """`log` events carrying text chunks until the run ends, then `end`."""
        data = first
        while True:
            if data:
                offset += len(data)
                yield sse("log", {"offset": offset, "text": data.decode("utf-8", "replace")})
            run = await blocking(self.p.metadata.get_run, run_id)
            if run.state in TERMINAL_RUN_STATES:
                data = await blocking(self.p.transport.read_log, run_id, step_id, offset)
                if data:
                    continue
                yield sse("end", {"state": run.state})
                return
            await asyncio.sleep(WATCH_INTERVAL)
            data = await blocking(self.p.transport.read_log, run_id, step_id, offset)

    # -- artifacts --------------------------------------------------------------------------
    async def run_artifacts(self, request: Request) -> Response:
        await self.run_for(request, request.path_params["run"], "view")
        records = await blocking(self.p.transport.list_artifacts, request.path_params["run"])
        return JSONResponse({"items": [encode_record(a) for a in records]})

    async def get_artifact(self, request: Request) -> Response:
        record = await self.artifact_for(request, request.path_params["artifact"])
        return JSONResponse(encode_record(record))

    async def artifact_for(self, request: Request, artifact_id: str) -> Any:
        record = await blocking(self.p.metadata.get_artifact, artifact_id)
        try:
            await self.run_for(request, record.run_id, "view")
        except NotFound:
            raise NotFound(f"artifact {artifact_id!r} not found",
                           hint="flowyard runs artifacts RUN_ID lists a run's artifacts") from None
        return record

    async def artifact_content(self, request: Request) -> Response:
        """A file artifact's bytes, or a folder as an uncompressed tar."""
        artifact_id = request.path_params["artifact"]
        record = await self.artifact_for(request, artifact_id)
        headers = {"X-Flowyard-Artifact-Name": record.name}
        if not record.is_tree:
            data = await blocking(self.p.objects.get_bytes, record.digest)
            return Response(data, media_type="application/octet-stream", headers=headers)
        data = await blocking(self._tar, record.digest, record.name)
        return Response(data, media_type="application/x-tar", headers=headers)

    def _tar(self, digest: str, name: str) -> bytes:
        with tempfile.TemporaryDirectory(prefix="flowyard-artifact-") as tmp:
            root = self.p.objects.materialize(digest, Path(tmp) / name)
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w") as tar:
                tar.add(root, arcname=".")
            return buf.getvalue()


def _driven_elsewhere(run: Any) -> bool:
    from flowyard.pipelines.engine.engine import driver_alive

    return run.state == "Running" and bool(driver_alive(run))


def _runs_page(records: list[Any], next_token: str | None) -> Response:
    """orjson writes the dataclasses (datetimes as ISO 8601, like encode_record) in one pass:
    a third of a page's time went to encode_record and json.dumps."""
    import orjson

    page = {"items": records, "metadata": {"continue": next_token}}
    try:
        body = orjson.dumps(page)
    except TypeError:  # e.g. an integer beyond 64 bits in a run's parameters
        page["items"] = [encode_record(r) for r in records]
        return JSONResponse(page)
    return Response(body, media_type="application/json")


def _run_cursor(token: str) -> tuple[Any, str]:
    """(created_at, id) from a runs `continue` token."""
    from datetime import datetime

    stamp, run_id = decode_continue(token)
    try:
        return datetime.fromisoformat(stamp), run_id
    except ValueError:
        raise InvalidInput(f"query parameter continue={token!r} is not a runs page token",
                           hint="pass the metadata.continue value of the previous page"
                           ) from None


def _key(body: dict[str, Any]) -> tuple[str, str]:
    meta = body.get("metadata") or {}
    return str(meta.get("namespace", "")), str(meta.get("name", ""))


def routes(api: Api) -> list[Route]:
    g = guarded
    ns = f"{API}/namespaces/{{namespace}}"
    return [
        Route("/healthz", g(api.healthz), methods=["GET"]),
        Route("/readyz", g(api.readyz), methods=["GET"]),
        Route("/api/openapi.json", g(api.openapi), methods=["GET"]),
        Route(f"{API}/kinds", g(api.kinds), methods=["GET"]),
        Route(f"{API}/runs", g(api.submit_run), methods=["POST"]),
        Route(f"{API}/runs", g(api.list_runs), methods=["GET"]),
        Route(f"{API}/runs/{{run}}", g(api.get_run), methods=["GET"]),
        Route(f"{API}/runs/{{run}}/steps", g(api.run_steps), methods=["GET"]),
        Route(f"{API}/runs/{{run}}/steps/{{step}}/log", g(api.step_log), methods=["GET"]),
        Route(f"{API}/runs/{{run}}/artifacts", g(api.run_artifacts), methods=["GET"]),
        Route(f"{API}/runs/{{run}}/{{action}}", g(api.run_action), methods=["POST"]),
        Route(f"{API}/artifacts/{{artifact}}", g(api.get_artifact), methods=["GET"]),
        Route(f"{API}/artifacts/{{artifact}}/content", g(api.artifact_content),
              methods=["GET"]),
        Route(f"{API}/{{plural}}", g(api.list_resources), methods=["GET"]),
        Route(f"{ns}/{{plural}}", g(api.list_resources), methods=["GET"]),
        Route(f"{ns}/{{plural}}", g(api.apply_resource), methods=["POST"]),
        Route(f"{ns}/{{plural}}/{{name}}", g(api.get_resource), methods=["GET"]),
        Route(f"{ns}/{{plural}}/{{name}}", g(api.apply_resource), methods=["PUT"]),
        Route(f"{ns}/{{plural}}/{{name}}", g(api.delete_resource), methods=["DELETE"]),
    ]


def create_app(platform: Platform) -> Starlette:
    """The ASGI app; its lifespan starts and stops the platform's controllers."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await platform.startup()
        try:
            yield
        finally:
            await gateway.close()
            await platform.shutdown()

    async def not_found(request: Request, exc: Exception) -> Response:
        return error_response(NotFound(f"no route {request.method} {request.url.path}",
                                       hint=f"see /api/openapi.json; resources live under "
                                            f"{API}/namespaces/NS/PLURAL/NAME"))

    async def internal(request: Request, exc: Exception) -> Response:
        return JSONResponse({"error": {"code": "InternalError", "message":
                                       f"{type(exc).__name__}: {exc}", "hint": None}},
                            status_code=500)

    from starlette.middleware import Middleware

    from flowyard.platform.auth import AuthMiddleware
    from flowyard.platform.dashboard import static_mount
    from flowyard.platform.data_api import data_routes
    from flowyard.platform.gateway import Gateway, gateway_routes
    from flowyard.platform.notebook_api import NotebookApi, notebook_routes
    from flowyard.platform.profiles import AccountApi, account_routes
    from flowyard.platform.serving_stats import serving_stats_routes
    from flowyard.platform.session import PUBLIC, Sessions, session_routes
    from flowyard.platform.views import Views, view_routes
    from flowyard.platform.volume_api import volume_routes

    sessions = Sessions(platform)
    gateway = Gateway(platform)
    gateway.register_provider(platform.notebooks.gateway_routes)
    api = Api(platform)  # shared by the data routes (registered before the generic ones)
    accounts = AccountApi(platform, sessions)
    app = Starlette(routes=session_routes(sessions) + account_routes(accounts)
                    + gateway_routes(gateway) + view_routes(Views(platform))
                    + data_routes(api) + volume_routes(api) + serving_stats_routes(api)
                    + notebook_routes(NotebookApi(platform)) + routes(api)
                    + [static_mount()],
                    lifespan=lifespan,
                    middleware=[Middleware(AuthMiddleware, auth=lambda: platform.auth,
                                           extra=sessions.identity, public=PUBLIC)],
                    exception_handlers={404: not_found, 405: not_found, 500: internal})
    app.state.platform = platform
    app.state.sessions = sessions
    app.state.gateway = gateway
    return app
