"""The gateway: one address for the API, every endpoint and every notebook (Ambassador's job,
in process).

Requests under `/serving/` and `/notebook/` are looked up in a `RouteTable`
(routes_table.py) fed by route providers, and proxied as plain ASGI, with no Starlette
request or response objects on the way: HTTP bodies stream both ways through the pooled
keep-alive connections of upstream.py (no cookie jar that could carry one user's upstream
cookies to the next, nothing buffered), websockets through wsproxy.py.

Who gets in: the same login as the API (AuthMiddleware: bearer token or session cookie),
then a role in the route's profile (`GatewayRoute.need`). Without one the answer is the
404 a missing route gives, word for word, so other profiles' names cannot be probed. Role
decisions are cached for `role_ttl` seconds (1 s): a removed contributor loses access within
that time. A websocket upgrade authenticated by the session cookie must come from this
origin (no cross-site websocket hijacking).

What the upstream gets: never the client's credentials (`Authorization`, Flowyard's own
cookies, `X-CSRF-Token`) nor identity headers (stripped by AuthMiddleware before anything
reads them); the authenticated user in `X-Flowyard-User`, `X-Forwarded-For/-Proto/-Host`,
`X-Forwarded-Prefix`, and the route's `request_headers`, which replace any the client sent.

Route providers (the interface for controllers)
----------------------------------------------
A provider is a callable returning the routes of what it runs, `() ->
Sequence[GatewayRoute]`, registered once with `Gateway.register_provider` (create_app does
this for the serving and notebook controllers). It is called on every proxied request, so
it must be cheap, and it should return the same sequence object while nothing changed (the
table then skips re-indexing). Prefixes must sit under `/serving/` or `/notebook/`.

Notebooks: for each running Jupyter server the notebook controller returns
`routes_table.notebook_route(profile, name, port, token, ready=...)`: prefix
`/notebook/<profile>/<name>/`, path passed unchanged (Jupyter runs with that base_url),
`Authorization: token <token>` added upstream (Jupyter's token never reaches users),
websockets on, role `edit` needed. E.g. in create_app:
`gateway.register_provider(platform.notebooks.gateway_routes)`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from flowyard.errors import FlowyardError, InvalidInput, NotFound
from flowyard.platform.api import API, blocking, guarded, status_of
from flowyard.platform.auth import (
    Forbidden,
    Identity,
    Receive,
    Scope,
    Send,
    bearer,
    identity_of,
)
from flowyard.platform.codec import encode_error
from flowyard.platform.responses import JSONResponse
from flowyard.platform.routes_table import (
    NOTEBOOK_ROOT,
    ROOTS,
    SERVING_ROOT,
    Backend,
    GatewayRoute,
    RouteProvider,
    RouteTable,
)
from flowyard.platform.upstream import (
    StaleConnection,
    UpstreamError,
    UpstreamPool,
    UpstreamResponse,
    UpstreamTimeout,
)

if TYPE_CHECKING:
    from flowyard.platform.runtime import Platform

log = logging.getLogger("flowyard.platform.gateway")
PREFIX = SERVING_ROOT.rstrip("/")
CONNECT_TIMEOUT = 5.0
SHADOW_MAX_BODY = 1 << 20
# Per connection, not end to end (RFC 9110 7.6.1); content-length is decided separately.
HOP = frozenset({b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization",
                 b"te", b"trailer", b"transfer-encoding", b"upgrade", b"host",
                 b"content-length"})
# The client's credentials for this platform: never for an upstream.
PRIVATE = frozenset({b"authorization", b"x-csrf-token"})
# Uvicorn answers a client's Expect: 100-continue itself; the body then streams up as is.
PROXY_OWN = frozenset({b"expect"})
OWN_COOKIES = ("flowyard_session=", "flowyard_csrf=")
WEBSOCKET_ONLY = frozenset({b"sec-websocket-key", b"sec-websocket-version",
                            b"sec-websocket-extensions", b"sec-websocket-protocol",
                            b"origin"})
NOT_UP = HOP | PRIVATE | PROXY_OWN
NOT_UP_WS = NOT_UP | WEBSOCKET_ONLY
# uvicorn adds its own Date and Server.
NOT_DOWN = (HOP - {b"content-length"}) | {b"date", b"server"}
HIDDEN_HINT = ("check the name and namespace, or ask the profile's owner to add you as a "
               "contributor")


class BadGateway(FlowyardError):
    headline = "bad gateway"
    status = 502


class GatewayTimeout(FlowyardError):
    headline = "gateway timeout"
    status = 504


class ClientGone(Exception):
    """The client disconnected while its request body was being sent upstream."""


class ServingRoutes:
    """The route provider of the serving controller: one route per running InferenceGraph,
    `/serving/<profile>/<graph>/...` rewritten to `/...` on its loopback port."""

    def __init__(self, platform: Platform, timeout: float) -> None:
        self.p, self.timeout = platform, timeout
        self._key: tuple[Any, ...] = ()
        self._routes: tuple[GatewayRoute, ...] = ()

    def __call__(self) -> Sequence[GatewayRoute]:
        endpoints = list(self.p.serving.endpoints.values())
        key = tuple((ep.namespace, ep.name, ep.url, ep.ready) for ep in endpoints)
        if key != self._key:
            self._routes = tuple(
                GatewayRoute(f"{SERVING_ROOT}{ns}/{name}/", (Backend(url),), "InferenceGraph",
                             ns, name, timeout=self.timeout, ready=ready)
                for ns, name, url, ready in key)
            self._key = key
        return self._routes


class Gateway:
    """The ASGI app mounted at /serving and /notebook, and the route table behind it."""

    def __init__(self, platform: Platform, *, timeout: float = 60.0,
                 rng: random.Random | None = None, role_ttl: float = 1.0) -> None:
        self.p = platform
        self.timeout = timeout
        self.rng = rng or random.Random()
        self.role_ttl = role_ttl
        self.table = RouteTable()
        self.table.register(ServingRoutes(platform, timeout))
        self.pool = UpstreamPool(connect_timeout=CONNECT_TIMEOUT)
        self._roles: dict[tuple[str, str], tuple[float, str | None]] = {}
        self._origins: dict[str, tuple[str, int, bool, bytes]] = {}
        self._shadowing: set[asyncio.Task[None]] = set()

    def register_provider(self, provider: RouteProvider) -> None:
        """Add a source of routes (see the module docstring for the contract)."""
        self.table.register(provider)

    # -- the route table as JSON ------------------------------------------------------------
    async def routes(self, request: Request) -> Response:
        visible = await blocking(self.p.auth.visible, identity_of(request.scope))
        items: list[dict[str, object]] = [
            {"prefix": f"{API}/", "upstream": "in-process", "kind": "API", "namespace": None,
             "name": None, "ready": True}]
        items += [r.describe() for r in self.table.routes()
                  if visible is None or r.namespace in visible]
        return JSONResponse({"items": items})

    # -- ASGI -------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self._http_proxy(scope, receive, send)

    async def _resolve(self, scope: Scope) -> GatewayRoute:
        who = identity_of(scope)
        host = _header(scope, b"host")
        hostname = host.rsplit(":", 1)[0].lower() if host else None
        route = self.table.match(scope["path"], hostname)
        if route is None:
            raise _missing(scope["path"])
        role = await self._role(who, route.namespace)
        if role is None:
            raise NotFound(f"{route.kind} {route.name!r} not found in namespace "
                           f"{route.namespace!r}", hint=HIDDEN_HINT)
        if route.need == "edit" and role == "view":
            raise Forbidden(f"user {who.name!r} may only view profile {route.namespace!r}, "
                            f"not use {route.kind} {route.name!r}",
                            hint="ask the profile's owner for the edit role")
        return route

    async def _role(self, who: Identity, profile: str) -> str | None:
        key = (who.name, profile)
        now = time.monotonic()
        cached = self._roles.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        role = await blocking(self.p.auth.role, who, profile)
        if len(self._roles) > 10_000:
            self._roles.clear()
        self._roles[key] = (now + self.role_ttl, role)
        return role

    def _upstream_headers(self, scope: Scope, route: GatewayRoute, drop: frozenset[bytes],
                          who: Identity) -> list[tuple[bytes, bytes]]:
        listed = _header(scope, b"connection")
        if listed:  # headers the client marked as hop-by-hop (RFC 9110 7.6.1)
            drop = drop | {t.strip().lower().encode("latin-1") for t in listed.split(",")}
        out: list[tuple[bytes, bytes]] = []
        host = b""
        for key, value in scope["headers"]:
            if key in drop or key in route.set_names:
                if key == b"host":
                    host = value
                continue
            if key == b"cookie":
                value = _without_own_cookies(value)
                if not value:
                    continue
            out.append((key, value))
        client = scope.get("client")
        out += route.raw_request_headers
        out += [(b"x-flowyard-user", who.name.encode()),
                (b"x-forwarded-prefix", route.prefix[:-1].encode()),
                (b"x-forwarded-proto", scope.get("scheme", "http").encode())]
        if host:
            out.append((b"x-forwarded-host", host))
        if client:
            out.append((b"x-forwarded-for", client[0].encode()))
        return out

    def _target(self, scope: Scope, route: GatewayRoute) -> str:
        """Path and query for the upstream: the raw path, so escapes such as %2F in a
        Jupyter file name arrive as the client sent them."""
        raw = scope.get("raw_path")
        path = raw.decode("latin-1") if raw else scope["path"]
        query = scope.get("query_string")
        return route.upstream_path(path) + ("?" + query.decode("latin-1") if query else "")

    def _origin(self, url: str) -> tuple[str, int, bool, bytes]:
        """Host, port, TLS and Host header of a backend URL, parsed once."""
        found = self._origins.get(url)
        if found is None:
            parts = urlsplit(url)
            tls = parts.scheme == "https"
            found = self._origins[url] = (parts.hostname or "", parts.port or (443 if tls else 80),
                                          tls, parts.netloc.encode())
        return found

    async def _exchange(self, method: str, backend: str, target: str,
                        headers: list[tuple[bytes, bytes]],
                        content: AsyncIterator[bytes] | bytes | None, chunked: bool,
                        timeout: float) -> UpstreamResponse:
        host, port, tls, netloc = self._origin(backend)
        return await self.pool.request(method.encode(), host, port, tls,
                                       target.encode("latin-1"), [(b"host", netloc), *headers],
                                       content, chunked=chunked, timeout=timeout)

    # -- HTTP -------------------------------------------------------------------------------
    async def _http_proxy(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            route = await self._resolve(scope)
            if route.rewrite is None and not scope["path"].endswith("/") \
                    and scope["path"] + "/" == route.prefix:
                # Relative links of a pass-through app resolve under the slash only.
                await _send_redirect(send, route.prefix, scope.get("query_string", b""))
                return
            answer = await self._send_upstream(scope, receive, route)
        except FlowyardError as exc:
            await _send_error(send, exc)
            return
        except ClientGone:
            return
        try:
            headers = [(k, v) for k, v in answer.headers if k.lower() not in NOT_DOWN]
            if route.raw_response_headers:
                names = {k for k, _ in route.raw_response_headers}
                headers = [(k, v) for k, v in headers if k.lower() not in names]
                headers += route.raw_response_headers
            await send({"type": "http.response.start", "status": answer.status,
                        "headers": headers})
            # Raw bytes, undecoded: the upstream's content-length and -encoding still hold.
            async for chunk in answer.chunks():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except UpstreamError as exc:
            # Too late for a status: end the connection so the client sees a cut answer,
            # not a complete-looking short one.
            log.warning("%s %s/%s: upstream broke off its answer: %s: %s", route.kind,
                        route.namespace, route.name, type(exc).__name__, exc)
            raise
        finally:
            await answer.aclose()

    async def _send_upstream(self, scope: Scope, receive: Receive,
                             route: GatewayRoute) -> UpstreamResponse:
        who = identity_of(scope)
        backend = route.pick(self.rng)
        headers = self._upstream_headers(scope, route, NOT_UP, who)
        length = _header(scope, b"content-length")
        chunked = "chunked" in (_header(scope, b"transfer-encoding") or "")
        has_body = chunked or length not in (None, "0")
        copy: bytearray | None = bytearray() if route.shadows else None
        content = _body(receive, copy) if has_body else None
        if length is not None:
            headers.append((b"content-length", length.encode()))
        method = scope["method"]
        target = self._target(scope, route)
        timeout = route.timeout
        framed = has_body and length is None
        try:
            try:
                answer = await self._exchange(method, backend.url, target, headers, content,
                                              framed, timeout)
            except StaleConnection:
                # A pooled keep-alive connection the upstream had closed (a restart): one
                # more try on a fresh connection, for requests that are safe to repeat.
                if has_body or method not in ("GET", "HEAD", "OPTIONS"):
                    raise
                answer = await self._exchange(method, backend.url, target, headers, None,
                                              False, timeout)
        except UpstreamTimeout as exc:
            raise GatewayTimeout(
                f"{route.kind} {route.name!r} in namespace {route.namespace!r} did not answer "
                f"{method} {scope['path']} within {route.timeout:g} s ({backend.url}: {exc})",
                hint="the route's timeout is the longest the upstream may stay silent; see "
                     f"the {route.kind}'s status and log") from exc
        except UpstreamError as exc:
            raise BadGateway(
                f"{route.kind} {route.name!r} in namespace {route.namespace!r} is not "
                f"reachable at {backend.url}: {exc}",
                hint=f"see its status: flowyard describe {route.kind.lower()} {route.name} "
                     f"-n {route.namespace}") from exc
        if route.shadows and copy is not None and len(copy) <= SHADOW_MAX_BODY:
            plain = list(headers)
            if length is None and copy:
                plain.append((b"content-length", str(len(copy)).encode()))
            for shadow in route.shadows:
                self._shadow(method, shadow, target, list(plain), bytes(copy), timeout)
        return answer

    def _shadow(self, method: str, backend: str, target: str,
                headers: list[tuple[bytes, bytes]], body: bytes, timeout: float) -> None:
        async def fire() -> None:
            try:
                answer = await self._exchange(method, backend, target, headers,
                                              body if body else None, False, timeout)
                try:
                    await answer.read()
                finally:
                    await answer.aclose()
                log.debug("shadow %s %s%s: %s", method, backend, target, answer.status)
            except UpstreamError as exc:
                log.debug("shadow %s %s%s failed: %s", method, backend, target, exc)

        task = asyncio.ensure_future(fire())
        self._shadowing.add(task)
        task.add_done_callback(self._shadowing.discard)

    # -- websockets -------------------------------------------------------------------------
    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Here, not at the top: the websockets client is not on `flowyard up`'s path.
        from flowyard.platform.wsproxy import UpstreamRefused, join, open_upstream

        first = await receive()
        if first["type"] != "websocket.connect":
            return
        try:
            route = await self._resolve(scope)
            if not route.websocket:
                raise InvalidInput(f"{route.kind} {route.name!r} in namespace "
                                   f"{route.namespace!r} does not take websockets",
                                   hint="use plain HTTP for this route")
            _check_origin(scope)
            backend = route.pick(self.rng)
            url = "ws" + backend.url[4:] + self._target(scope, route)
            headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in
                       self._upstream_headers(scope, route, NOT_UP_WS, identity_of(scope))]
            try:
                upstream = await open_upstream(url, headers, list(scope.get("subprotocols")
                                                                  or ()), route.timeout)
            except TimeoutError as exc:
                raise GatewayTimeout(f"{route.kind} {route.name!r} in namespace "
                                     f"{route.namespace!r} did not accept the websocket "
                                     f"within {route.timeout:g} s") from exc
            except OSError as exc:
                raise BadGateway(f"{route.kind} {route.name!r} in namespace "
                                 f"{route.namespace!r} is not reachable at {backend.url}: "
                                 f"{exc}") from exc
        except UpstreamRefused as exc:
            await _deny(scope, send, exc.status, exc.headers, exc.body)
            return
        except FlowyardError as exc:
            body = orjson.dumps(encode_error(exc))
            await _deny(scope, send, status_of(exc),
                        [(b"content-type", b"application/json")], body)
            return
        await join(receive, send, upstream)

    async def close(self) -> None:
        for task in list(self._shadowing):
            task.cancel()
        await self.pool.aclose()


def _missing(path: str) -> NotFound:
    """The 404 of a path without a route: the same words a hidden route gets."""
    for root, kind in ROOTS.items():
        if path.startswith(root):
            parts = path[len(root):].split("/")
            if len(parts) >= 2 and parts[0] and parts[1]:
                return NotFound(f"{kind} {parts[1]!r} not found in namespace {parts[0]!r}",
                                hint=HIDDEN_HINT)
            return NotFound(f"no route for {path}",
                            hint=f"paths are {root}<profile>/<name>/...; GET "
                                 f"{API}/gateway/routes lists yours")
    return NotFound(f"no route for {path}")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _without_own_cookies(value: bytes) -> bytes:
    text = value.decode("latin-1")
    if "flowyard_" not in text:
        return value
    kept = [c for c in text.split(";") if not c.strip().startswith(OWN_COOKIES)]
    return ";".join(kept).strip().encode("latin-1")


def _check_origin(scope: Scope) -> None:
    """A browser's cookie rides along on cross-site websocket upgrades; the Origin must be
    this host's (a bearer token cannot be sent by another site, so it needs no check)."""
    if bearer(scope["headers"]) is not None:
        return
    origin = _header(scope, b"origin")
    host = _header(scope, b"host")
    if origin is None:
        return
    netloc = origin.split("://", 1)[-1].rstrip("/").lower()
    if host is None or netloc != host.lower():
        raise Forbidden(f"websocket from origin {origin!r} refused for host {host!r}",
                        hint="open the page from the platform's own address, or send an "
                             "Authorization: Bearer token")


async def _body(receive: Receive, copy: bytearray | None) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        if chunk:
            if copy is not None and len(copy) <= SHADOW_MAX_BODY:
                copy += chunk
            yield chunk
        if not message.get("more_body", False):
            return


async def _send_error(send: Send, exc: FlowyardError) -> None:
    body = orjson.dumps(encode_error(exc))
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status_of(exc), "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _send_redirect(send: Send, location: str, query: bytes) -> None:
    target = location.encode() + (b"?" + query if query else b"")
    await send({"type": "http.response.start", "status": 308,
                "headers": [(b"location", target), (b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})


async def _deny(scope: Scope, send: Send, status: int, headers: list[tuple[bytes, bytes]],
                body: bytes) -> None:
    """Refuse an upgrade with an HTTP answer where the server can (uvicorn can), else with a
    close code of 4000 + status, as AuthMiddleware does."""
    if "websocket.http.response" in (scope.get("extensions") or {}):
        await send({"type": "websocket.http.response.start", "status": status,
                    "headers": [*headers, (b"content-length", str(len(body)).encode())]})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 4000 + status})


def gateway_routes(gateway: Gateway) -> list[BaseRoute]:
    return [
        Route(f"{API}/gateway/routes", guarded(gateway.routes), methods=["GET"]),
        Mount(PREFIX, app=gateway),
        Mount(NOTEBOOK_ROOT.rstrip("/"), app=gateway),
    ]
