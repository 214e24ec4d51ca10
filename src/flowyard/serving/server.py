"""The composition root: graph -> engine -> data plane -> ASGI app -> uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from flowyard.resources.inference_graph import InferenceGraph
from flowyard.serving.dataplane import DataPlane
from flowyard.serving.fastpath import ServingApp
from flowyard.serving.graph import GraphEngine
from flowyard.serving.metrics import ServingMetrics
from flowyard.serving.rest import build_routes, json_response
from flowyard.serving.state import JsonFileStateStore, StateStore
from flowyard.serving.stats import SHARE_ENV, RecordingStateStore
from flowyard.settings import Settings

log = logging.getLogger(__name__)
DEFAULT_MAX_REQUEST_BYTES = 16 * 1024 * 1024
_ENV_GRAPH = "FLOWYARD_SERVING_GRAPH"
_ENV_OPTIONS = "FLOWYARD_SERVING_OPTIONS"


def default_dirs(graph: InferenceGraph) -> tuple[Path, Path]:
    """(model cache, router state) folders under FLOWYARD_HOME."""
    home = Settings().home.expanduser()
    return home / "serving" / "cache", home / "serving" / "state"


def build_engine(graph: InferenceGraph, *, base_dir: Path | None = None,
                 cache_dir: Path | None = None, state_dir: Path | None = None,
                 state_store: StateStore | None = None, http_transport: Any = None,
                 seed: int | None = None) -> GraphEngine:
    cache_default, state_default = default_dirs(graph)
    store = state_store or JsonFileStateStore(state_dir or state_default)
    return GraphEngine(graph, base_dir=base_dir, cache_dir=cache_dir or cache_default,
                       state_store=store, metrics=ServingMetrics(),
                       http_transport=http_transport, seed=seed)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    detail = "no such route" if exc.status_code == 404 else exc.detail
    return json_response({"error": f"{request.method} {request.url.path}: {detail}"},
                         exc.status_code)


def build_app(engine: GraphEngine, *, max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
              load: bool = True, grpc_port: int | None = None,
              grpc_host: str = "127.0.0.1") -> Starlette:
    """The ASGI app. With `load`, models load in a thread at start-up (live at once, ready
    once loaded); pass `load=False` when `engine.load()` already ran. With `grpc_port`, V2
    over gRPC is served from the same process and event loop."""
    dp = DataPlane(engine)
    if not load:
        dp.loaded = True

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = None
        if load:
            async def load_all() -> None:
                try:
                    await asyncio.to_thread(engine.load)
                except Exception as exc:  # keep serving health with the reason
                    dp.load_error = f"loading failed: {type(exc).__name__}: {exc}"
                    log.exception("loading graph %s failed", engine.name)
                    return
                # Models and modules live as long as the server: keep them out of the
                # cyclic GC's scans so collections stay short under load (p99).
                gc.collect()
                gc.freeze()
                dp.loaded = True
            task = asyncio.create_task(load_all())
        grpc_server = None
        if grpc_port is not None:
            from flowyard.serving.protocols.v2_grpc import start_grpc

            grpc_server = await start_grpc(dp, grpc_host, grpc_port, max_request_bytes)
        try:
            yield
        finally:
            if grpc_server is not None:
                await grpc_server.stop(grace=1.0)
            if task is not None:
                task.cancel()
            await engine.idle()
            await engine.aclose()

    app = ServingApp(routes=build_routes(dp, max_request_bytes=max_request_bytes),
                     exception_handlers={HTTPException: _http_error}, lifespan=lifespan)
    app.dataplane, app.max_request_bytes = dp, max_request_bytes
    app.state.dataplane = dp
    return app


def serve(graph: InferenceGraph, host: str = "127.0.0.1", port: int = 8080, workers: int = 1,
          *, base_dir: Path | None = None, state_dir: Path | None = None,
          cache_dir: Path | None = None,
          max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES, log_level: str = "warning",
          grpc_port: int | None = None) -> None:
    """Serve `graph` until interrupted; several worker processes share the port (and the
    gRPC port, which gRPC opens with SO_REUSEPORT)."""
    import uvicorn

    from flowyard.serving.transport import CoalescingHttpToolsProtocol

    options = {"grpc_port": grpc_port, "grpc_host": host,
               "base_dir": str(base_dir) if base_dir else None,
               "state_dir": str(state_dir) if state_dir else None,
               "cache_dir": str(cache_dir) if cache_dir else None,
               "max_request_bytes": max_request_bytes}
    if workers > 1:
        import shutil

        from flowyard.serving.stats import make_share

        # Worker processes rebuild the app from the environment (uvicorn needs an import
        # string to spawn them); each worker loads its own copy of the models.
        os.environ[_ENV_GRAPH] = json.dumps(graph.to_dict())
        os.environ[_ENV_OPTIONS] = json.dumps(options)
        # Where the workers publish their numbers, so /stats adds up all (serving/stats.py).
        share = str(make_share(graph.metadata.name))
        os.environ[SHARE_ENV] = share
        try:
            uvicorn.run("flowyard.serving.server:app_from_env", factory=True, host=host,
                        port=port, workers=workers, log_level=log_level, access_log=False,
                        proxy_headers=False, http=CoalescingHttpToolsProtocol)
        finally:
            os.environ.pop(SHARE_ENV, None)
            shutil.rmtree(share, ignore_errors=True)
        return
    app = _app(graph, options)
    # No X-Forwarded-* rewriting: nothing here reads the client address, and the middleware
    # costs a few percent of a request.
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False,
                proxy_headers=False, http=CoalescingHttpToolsProtocol)


def _app(graph: InferenceGraph, options: dict[str, Any]) -> Starlette:
    def path(key: str) -> Path | None:
        value = options.get(key)
        return Path(value) if value else None

    engine = build_engine(graph, base_dir=path("base_dir"), cache_dir=path("cache_dir"),
                          state_dir=path("state_dir"))
    if os.environ.get(SHARE_ENV):
        # A worker of several: /stats counts the router state it restores once, not once
        # per worker, so it must know what that was.
        engine.state_store = RecordingStateStore(engine.state_store)
    grpc_port = options.get("grpc_port")
    return build_app(engine, max_request_bytes=int(options["max_request_bytes"]),
                     grpc_port=int(grpc_port) if grpc_port is not None else None,
                     grpc_host=str(options.get("grpc_host") or "127.0.0.1"))


def app_from_env() -> Starlette:
    """App factory for uvicorn worker processes (see `serve`)."""
    from flowyard.serving.config import parse_graph

    graph = parse_graph(json.loads(os.environ[_ENV_GRAPH]))
    return _app(graph, json.loads(os.environ.get(_ENV_OPTIONS, "{}")))
