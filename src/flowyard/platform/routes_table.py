"""The gateway's route table: which upstream a request prefix goes to, and how.

A `GatewayRoute` holds what an Emissary Mapping holds (prefix, rewrite, host, headers,
timeout, websocket upgrade, weighted backends, shadows) plus the resource it belongs to,
whose profile decides who may use it. Routes are not stored: route providers compute them
from what the platform runs (serving endpoints, notebook servers), so the table follows the
resources without anyone keeping it in sync.

A provider is any `() -> Sequence[GatewayRoute]`, called on every lookup. It should return
the *same* sequence object while nothing changed: the table then reuses its index and a
lookup costs a few dict probes.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from flowyard.errors import InvalidInput

Role = Literal["view", "edit"]
RouteProvider = Callable[[], Sequence["GatewayRoute"]]
SERVING_ROOT = "/serving/"
NOTEBOOK_ROOT = "/notebook/"
# The path families the gateway answers, with the kind named in their 404s.
ROOTS = {SERVING_ROOT: "InferenceGraph", NOTEBOOK_ROOT: "Notebook"}


@dataclass(frozen=True, slots=True)
class Backend:
    """One upstream of a route: `scheme://host:port`, chosen with probability weight/sum."""

    url: str
    weight: int = 100


@dataclass(frozen=True)
class GatewayRoute:
    """Requests under `prefix` (and `host`, when set) go to one of `backends`.

    - `rewrite`: replaces the prefix on the way up ("/" by default, as Emissary does);
      None passes the path unchanged (Jupyter, started with base_url = the prefix).
    - `request_headers`: set on the upstream request, replacing any the client sent
      (a notebook's `Authorization: token ...`: the client never sees it).
    - `response_headers`: set on the answer.
    - `timeout`: seconds the upstream may stay silent: to connect, before its answer
      starts (else 504) and between chunks.
    - `websocket`: whether upgrades are proxied; `shadows`: upstreams that get a copy of
      each request, answers discarded.
    - `need`: the role in `namespace` a user must hold ("view": any member).
    """

    prefix: str
    backends: tuple[Backend, ...]
    kind: str
    namespace: str
    name: str
    rewrite: str | None = "/"
    host: str | None = None
    request_headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    response_headers: tuple[tuple[str, str], ...] = ()
    timeout: float = 60.0
    websocket: bool = False
    shadows: tuple[str, ...] = ()
    need: Role = "view"
    ready: bool = True
    # Derived once, used on every request.
    set_names: frozenset[bytes] = field(init=False, repr=False, compare=False)
    raw_request_headers: tuple[tuple[bytes, bytes], ...] = field(init=False, repr=False,
                                                                 compare=False)
    raw_response_headers: tuple[tuple[bytes, bytes], ...] = field(init=False, repr=False,
                                                                  compare=False)
    weights: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        where = f"gateway route {self.prefix!r} ({self.kind} {self.namespace}/{self.name})"
        if not self.prefix.startswith("/") or not self.prefix.endswith("/"):
            raise InvalidInput(f"{where}: prefix {self.prefix!r} must start and end with '/'",
                               hint=f"e.g. {SERVING_ROOT}<profile>/<name>/")
        if not any(self.prefix.startswith(root) and len(self.prefix) > len(root)
                   for root in ROOTS):
            raise InvalidInput(f"{where}: prefix {self.prefix!r} is outside the gateway's "
                               f"paths", hint=f"use one of {', '.join(ROOTS)}")
        if self.rewrite is not None and not self.rewrite.startswith("/"):
            raise InvalidInput(f"{where}: rewrite {self.rewrite!r} must start with '/'",
                               hint="or None to pass the path unchanged")
        if not self.backends:
            raise InvalidInput(f"{where}: backends is empty", hint="give at least one URL")
        for b in self.backends:
            if not b.url.startswith(("http://", "https://")) or b.url.endswith("/"):
                raise InvalidInput(f"{where}: backend url {b.url!r} is not scheme://host:port",
                                   hint="e.g. http://127.0.0.1:8080 (no path, no '/')")
            if b.weight < 0:
                raise InvalidInput(f"{where}: backend {b.url} has weight {b.weight}",
                                   hint="weights are integers >= 0")
        if sum(b.weight for b in self.backends) <= 0:
            raise InvalidInput(f"{where}: the backends' weights add up to 0",
                               hint="give at least one backend a positive weight")
        if not self.timeout > 0:
            raise InvalidInput(f"{where}: timeout {self.timeout!r} must be > 0 seconds")
        for url in self.shadows:
            if not url.startswith(("http://", "https://")):
                raise InvalidInput(f"{where}: shadow url {url!r} is not scheme://host:port")
        for name, value in (*self.request_headers, *self.response_headers):
            if not name or any(c in f"{name}{value}" for c in "\r\n\0") or ":" in name:
                raise InvalidInput(f"{where}: header {name!r} is not a valid header",
                                   hint="names without ':', no line breaks in names or values")
        encode = object.__setattr__
        encode(self, "raw_request_headers", tuple(
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in self.request_headers))
        encode(self, "raw_response_headers", tuple(
            (k.lower().encode("latin-1"), v.encode("latin-1"))
            for k, v in self.response_headers))
        encode(self, "set_names", frozenset(k for k, _ in self.raw_request_headers))
        encode(self, "weights", tuple(b.weight for b in self.backends))

    def pick(self, rng: random.Random) -> Backend:
        """A backend, by weight (the only one without drawing)."""
        if len(self.backends) == 1:
            return self.backends[0]
        return rng.choices(self.backends, self.weights)[0]

    def upstream_path(self, raw_path: str) -> str:
        """The path the upstream sees for `raw_path` (which starts with the prefix, or is the
        prefix without its trailing slash)."""
        if self.rewrite is None:
            return raw_path
        return self.rewrite + raw_path[len(self.prefix):]

    def describe(self) -> dict[str, object]:
        """For GET /gateway/routes: header names only (values may be secrets)."""
        return {"prefix": self.prefix, "upstream": self.backends[0].url,
                "backends": [{"url": b.url, "weight": b.weight} for b in self.backends],
                "rewrite": self.rewrite, "host": self.host, "timeout": self.timeout,
                "websocket": self.websocket, "shadows": list(self.shadows),
                "requestHeaders": [k for k, _ in self.request_headers],
                "responseHeaders": [k for k, _ in self.response_headers],
                "ready": self.ready, "kind": self.kind, "namespace": self.namespace,
                "name": self.name, "role": self.need}


def notebook_route(profile: str, name: str, port: int, token: str, *,
                   ready: bool = True, timeout: float = 300.0) -> GatewayRoute:
    """The route of a Jupyter server started with base_url `/notebook/<profile>/<name>/` on
    127.0.0.1:`port`: paths pass unchanged, websockets are on, Jupyter's token is added on
    the way up (so users never hold it), and only editors of the profile get in (a kernel
    runs any code as the profile)."""
    return GatewayRoute(f"{NOTEBOOK_ROOT}{profile}/{name}/", (Backend(f"http://127.0.0.1:{port}"),),
                        "Notebook", profile, name, rewrite=None,
                        request_headers=(("Authorization", f"token {token}"),),
                        timeout=timeout, websocket=True, need="edit", ready=ready)


class RouteTable:
    """The routes of every provider, indexed by prefix; longest prefix wins."""

    def __init__(self) -> None:
        self._providers: list[RouteProvider] = []
        self._last: list[Sequence[GatewayRoute]] = []
        self._index: dict[str, list[GatewayRoute]] = {}

    def register(self, provider: RouteProvider) -> None:
        self._providers.append(provider)
        self._last = []

    def routes(self) -> list[GatewayRoute]:
        self._refresh()
        return sorted((r for rs in self._index.values() for r in rs),
                      key=lambda r: (r.prefix, r.host or ""))

    def _refresh(self) -> None:
        results = [provider() for provider in self._providers]
        if len(results) == len(self._last) and all(
                a is b for a, b in zip(results, self._last, strict=True)):
            return
        index: dict[str, list[GatewayRoute]] = {}
        for routes in results:
            for route in routes:
                index.setdefault(route.prefix, []).append(route)
        for same in index.values():
            same.sort(key=lambda r: r.host is None)  # a route for this host before any host
        self._index, self._last = index, results

    def match(self, path: str, host: str | None) -> GatewayRoute | None:
        """The route for `path` (its longest matching prefix; `/a/b` matches prefix `/a/b/`)
        and the request's Host (without port)."""
        self._refresh()
        index = self._index
        probe = path if path.endswith("/") else path + "/"
        end = len(probe)
        while end > 1:
            candidates = index.get(probe[:end])
            if candidates:
                for route in candidates:
                    if route.host is None or route.host == host:
                        return route
            end = probe.rfind("/", 0, end - 1) + 1
        return None
