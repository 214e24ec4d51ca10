"""The gateway: one address for the API and every endpoint (Ambassador's job, in process).

The route table follows the resources: each InferenceGraph the serving controller runs gets
`/serving/<profile>/<graph>/...`, rewritten to `/...` on its loopback port. Requests pass the
same login as the API (AuthMiddleware) and need a role in the profile (404 otherwise, so
that other profiles' endpoints cannot be discovered). Bodies stream both ways through httpx;
nothing is buffered. Client credentials are not forwarded; the upstream gets the
authenticated user in X-Flowyard-User, which clients can never set themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from flowyard.errors import NotFound, StoreError
from flowyard.platform.api import API, blocking, guarded
from flowyard.platform.auth import identity_of

if TYPE_CHECKING:
    from flowyard.platform.runtime import Platform

PREFIX = "/serving"
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
# Per connection, not end to end (RFC 9110 7.6.1), plus what must not reach a model server.
HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
                 "te", "trailer", "transfer-encoding", "upgrade", "host", "content-length"})
PRIVATE = frozenset({"authorization", "cookie", "x-csrf-token"})


@dataclass(frozen=True)
class GatewayRoute:
    prefix: str
    upstream: str
    namespace: str
    name: str
    timeout: float = 60.0
    ready: bool = False


class Gateway:
    def __init__(self, platform: Platform, *, timeout: float = 60.0) -> None:
        self.p = platform
        self.timeout = timeout
        self._http: httpx.AsyncClient | None = None

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)
        return self._http

    def table(self) -> list[GatewayRoute]:
        """The current routes: one per endpoint the serving controller runs."""
        return sorted((GatewayRoute(f"{PREFIX}/{ep.namespace}/{ep.name}/", ep.url,
                                    ep.namespace, ep.name, self.timeout, ep.ready)
                       for ep in list(self.p.serving.endpoints.values())),
                      key=lambda r: r.prefix)

    async def routes(self, request: Request) -> Response:
        visible = await blocking(self.p.auth.visible, identity_of(request.scope))
        return JSONResponse({"items": [
            {"prefix": r.prefix, "upstream": r.upstream, "timeout": r.timeout,
             "ready": r.ready, "kind": "InferenceGraph", "namespace": r.namespace,
             "name": r.name}
            for r in self.table() if visible is None or r.namespace in visible]})

    async def proxy(self, request: Request) -> Response:
        profile, graph = request.path_params["profile"], request.path_params["graph"]
        who = identity_of(request.scope)
        what = f"InferenceGraph {graph!r}"
        await blocking(self.p.auth.authorize, who, profile, "view", what)
        ep = self.p.serving.endpoints.get((profile, graph))
        if ep is None:
            raise NotFound(f"{what} not found in namespace {profile!r}",
                           hint="flowyard get inferencegraphs lists the served graphs")
        path = "/" + request.path_params.get("path", "")
        query = request.url.query
        # Content-Length is kept on the way up: with it httpx streams the body as is,
        # without it (and no chunked body) there is no body to send.
        headers = [(k, v) for k, v in request.headers.raw
                   if k.decode("latin-1").lower() not in (HOP - {"content-length"}) | PRIVATE]
        has_body = "content-length" in request.headers or \
            "chunked" in request.headers.get("transfer-encoding", "")
        headers.append((b"x-flowyard-user", who.name.encode()))
        headers.append((b"x-forwarded-prefix", f"{PREFIX}/{profile}/{graph}".encode()))
        upstream = self.http.build_request(
            request.method, f"{ep.url}{path}{'?' + query if query else ''}",
            headers=headers, content=request.stream() if has_body else None)
        try:
            answer = await self.http.send(upstream, stream=True)
        except httpx.HTTPError as exc:
            raise StoreError(f"{what} in namespace {profile!r} did not answer at {ep.url}: "
                             f"{type(exc).__name__}: {exc}",
                             hint="see its status: flowyard describe inferencegraph "
                                  f"{graph}") from exc
        out = [(k, v) for k, v in answer.headers.raw if k.decode("latin-1").lower() not in HOP]
        response = StreamingResponse(answer.aiter_raw(), status_code=answer.status_code,
                                     background=BackgroundTask(answer.aclose))
        response.raw_headers = [*out, *_length(answer)]
        return response

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None


def _length(answer: httpx.Response) -> list[tuple[bytes, bytes]]:
    # Raw bytes are passed on undecoded, so the upstream's length still holds.
    value: Any = answer.headers.get("content-length")
    return [(b"content-length", value.encode())] if value else []


def gateway_routes(gateway: Gateway) -> list[Route]:
    target = f"{PREFIX}/{{profile}}/{{graph}}"
    return [
        Route(f"{API}/gateway/routes", guarded(gateway.routes), methods=["GET"]),
        Route(f"{target}/{{path:path}}", guarded(gateway.proxy), methods=METHODS),
        Route(target, guarded(gateway.proxy), methods=METHODS),
    ]
