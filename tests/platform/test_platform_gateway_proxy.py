"""The gateway over real sockets: uvicorn serving the platform's app, real loopback upstreams
(HTTP and websocket), routes from a registered provider. Websockets both ways, close codes,
subprotocols, streamed uploads, timeouts, dead upstreams, weights, shadows, headers, and who
gets in."""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from platform_helpers import wait_for
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from flowyard.platform import procs
from flowyard.platform.api import create_app
from flowyard.platform.routes_table import Backend, GatewayRoute, notebook_route
from flowyard.platform.runtime import Platform
from flowyard.settings import Settings


@dataclass
class Seen:
    """What an upstream received, for the test to inspect."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    chunks: list[bytes] = field(default_factory=list)
    closes: list[tuple[int, str]] = field(default_factory=list)


def upstream_app(tag: str, seen: Seen) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        info = {"tag": tag, "path": scope["raw_path"].decode(),
                "query": scope["query_string"].decode(), "headers": headers}
        if scope["type"] == "websocket":
            await receive()
            if "refuse" in scope["path"]:
                body = b'{"message": "kernel not found"}'
                await send({"type": "websocket.http.response.start", "status": 404,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"content-length", str(len(body)).encode())]})
                await send({"type": "websocket.http.response.body", "body": body})
                return
            seen.requests.append({**info, "subprotocols": scope.get("subprotocols", [])})
            offered = scope.get("subprotocols") or []
            await send({"type": "websocket.accept",
                        "subprotocol": offered[-1] if offered else None})
            while True:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    seen.closes.append((message.get("code", 0), message.get("reason") or ""))
                    return
                text = message.get("text")
                if text and text.startswith("close:"):
                    _, code, reason = text.split(":", 2)
                    await send({"type": "websocket.close", "code": int(code),
                                "reason": reason})
                    return
                if text is not None:
                    await send({"type": "websocket.send", "text": f"{tag}:{text}"})
                else:
                    await send({"type": "websocket.send", "bytes": message["bytes"][::-1]})
        body = b""
        while True:
            message = await receive()
            if message.get("body"):
                seen.chunks.append(message["body"])
                body += message["body"]
            if not message.get("more_body"):
                break
        seen.requests.append({**info, "body": body.decode(errors="replace")})
        if scope["path"].startswith("/slow"):
            await asyncio.sleep(float(scope["query_string"].decode().split("=")[1]))
        answer = json.dumps({**info, "got": len(body)}).encode()
        head = [(b"content-type", b"application/json"), (b"x-backend", tag.encode()),
                (b"server", b"upstream"), (b"set-cookie", b"jupyter=1; Path=/")]
        if scope["path"].startswith("/broken"):  # promises 100 bytes, dies after 10
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-length", b"100")]})
            await send({"type": "http.response.body", "body": b"x" * 10, "more_body": True})
            raise RuntimeError("upstream died mid-answer (on purpose)")
        if scope["path"].startswith("/events"):  # no length: chunked, in three parts
            await send({"type": "http.response.start", "status": 200, "headers": head})
            for i in range(3):
                await send({"type": "http.response.body", "body": b"event %d\n" % i,
                            "more_body": True})
            await send({"type": "http.response.body", "body": b""})
            return
        head.append((b"content-length", str(len(answer)).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": head})
        await send({"type": "http.response.body", "body": answer})

    return app


class Served:
    def __init__(self, app: Any, lifespan: str = "off") -> None:
        self.port = procs.free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="warning", lifespan=lifespan))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        wait_for(lambda: self.server.started, 30, f"server on {self.port}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(20)


@dataclass
class Site:
    url: str
    platform: Platform
    app: Any
    tokens: dict[str, str]
    seen: dict[str, Seen]

    def headers(self, user: str, **more: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}", **more}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    home = tmp_path_factory.mktemp("gateway") / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FLOWYARD_HOME", str(home))
        for name in ("FLOWYARD_DATABASE_URL", "FLOWYARD_OBJECT_STORE_URL", "FLOWYARD_SERVER"):
            mp.delenv(name, raising=False)
        platform = Platform(Settings(), controllers=False)
        admin = platform.auth.bootstrap()
        assert admin is not None
        auth = platform.auth
        for user in ("alice", "bob", "eve"):
            auth.create_user(user)
        auth.create_profile("team-a", "alice")
        auth.set_member("team-a", "bob", "view")
        tokens = {u: auth.create_token(u) for u in ("alice", "bob", "eve")}
        seen = {tag: Seen() for tag in "abc"}
        upstreams = {tag: Served(upstream_app(tag, seen[tag])) for tag in "abc"}
        a, b, c = (upstreams[t].url for t in "abc")
        dead = f"http://127.0.0.1:{procs.free_port()}"
        routes = (
            GatewayRoute("/serving/team-a/ws/", (Backend(a),), "InferenceGraph", "team-a",
                         "ws", websocket=True,
                         request_headers=(("X-Api-Key", "upstream-secret"),),
                         response_headers=(("X-Frame-Options", "DENY"),)),
            GatewayRoute("/serving/team-a/plain/", (Backend(a),), "InferenceGraph", "team-a",
                         "plain", timeout=0.5),
            GatewayRoute("/serving/team-a/split/", (Backend(a, 80), Backend(b, 20)),
                         "InferenceGraph", "team-a", "split", shadows=(c,)),
            GatewayRoute("/serving/team-a/dead/", (Backend(dead),), "InferenceGraph",
                         "team-a", "dead", websocket=True),
            notebook_route("team-a", "nb", upstreams["a"].port, "jupyter-secret"),
        )
        platform_app = create_app(platform)
        platform_app.state.gateway.rng = random.Random(7)
        platform_app.state.gateway.register_provider(lambda: routes)
        gateway = Served(platform_app, lifespan="on")
        try:
            yield Site(gateway.url, platform, platform_app, {"admin": admin, **tokens}, seen)
        finally:
            gateway.stop()
            for served in upstreams.values():
                served.stop()


def test_http_proxy_rewrites_sets_headers_and_hides_credentials(site: Site) -> None:
    answer = httpx.get(f"{site.url}/serving/team-a/ws/v2/models/m?x=1%202", headers=site.headers(
        "alice", **{"X-Flowyard-User": "admin", "X-Api-Key": "forged", "Connection": "x-drop",
                    "X-Drop": "1", "Cookie": "flowyard_session=abc; theme=dark"}))
    assert answer.status_code == 200, answer.text
    seen = answer.json()
    up = seen["headers"]
    assert seen["path"] == "/v2/models/m" and seen["query"] == "x=1%202"
    assert up["x-flowyard-user"] == "alice"          # the login, never the client's claim
    assert up["x-api-key"] == "upstream-secret"       # the route's header replaces the client's
    assert "authorization" not in up and "x-drop" not in up
    assert up["cookie"] == "theme=dark"                # Flowyard's own cookie never leaves
    assert up["x-forwarded-prefix"] == "/serving/team-a/ws"
    assert up["x-forwarded-host"] == f"127.0.0.1:{site.url.rsplit(':', 1)[1]}"
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers.get_list("server") == ["uvicorn"]  # one Server, one Date
    assert len(answer.headers.get_list("date")) == 1
    # The gateway keeps no cookie jar: an upstream's Set-Cookie goes to the client only.
    again = httpx.get(f"{site.url}/serving/team-a/ws/x", headers=site.headers("bob"))
    assert "cookie" not in again.json()["headers"]


def test_notebook_route_passes_the_path_and_injects_the_token(site: Site) -> None:
    path = "/notebook/team-a/nb/api/contents/a%2Fb.ipynb"
    answer = httpx.get(site.url + path, headers=site.headers("alice"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["path"] == path              # base_url kept, escapes untouched
    assert answer.json()["headers"]["authorization"] == "token jupyter-secret"
    bare = httpx.get(f"{site.url}/notebook/team-a/nb?x=1", headers=site.headers("alice"))
    assert bare.status_code == 308 and bare.headers["location"] == "/notebook/team-a/nb/?x=1"
    # A kernel runs any code: viewers of the profile do not get in.
    viewer = httpx.get(site.url + path, headers=site.headers("bob"))
    assert viewer.status_code == 403
    assert "may only view profile 'team-a'" in viewer.json()["error"]["message"]


def test_only_members_reach_routes_and_missing_looks_the_same(site: Site) -> None:
    path = "/serving/team-a/ws/v2/health/ready"
    assert httpx.get(site.url + path).status_code == 401
    hidden = httpx.get(site.url + path, headers=site.headers("eve"))
    missing = httpx.get(f"{site.url}/serving/team-a/nope/v2", headers=site.headers("eve"))
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["error"]["message"] == "InferenceGraph 'ws' not found in namespace " \
                                                "'team-a'"
    assert missing.json()["error"]["message"] == "InferenceGraph 'nope' not found in " \
                                                 "namespace 'team-a'"
    assert hidden.json()["error"]["hint"] == missing.json()["error"]["hint"]
    nb = httpx.get(f"{site.url}/notebook/team-a/nb/", headers=site.headers("eve"))
    assert nb.json()["error"]["message"] == "Notebook 'nb' not found in namespace 'team-a'"
    table = httpx.get(f"{site.url}/api/v1alpha1/gateway/routes",
                      headers=site.headers("alice")).json()["items"]
    notebook = next(r for r in table if r["kind"] == "Notebook")
    assert notebook["requestHeaders"] == ["Authorization"]   # names only: no token inside
    assert "jupyter-secret" not in json.dumps(table)
    assert notebook["rewrite"] is None and notebook["websocket"] is True
    split = next(r for r in table if r["name"] == "split")
    assert [b["weight"] for b in split["backends"]] == [80, 20]
    eve = httpx.get(f"{site.url}/api/v1alpha1/gateway/routes", headers=site.headers("eve"))
    assert [r["kind"] for r in eve.json()["items"]] == ["API"]


def test_request_bodies_stream_upstream(site: Site) -> None:
    """The upstream gets the first chunk while the client still holds the second: a
    buffering gateway would wait for the whole body and this would time out."""
    seen = site.seen["a"]

    def body() -> Iterator[bytes]:
        before = len(seen.chunks)
        yield b"x" * 1000
        wait_for(lambda: len(seen.chunks) > before, 20, "first chunk upstream")
        yield b"y" * 1000

    answer = httpx.post(f"{site.url}/serving/team-a/ws/upload", content=body(),
                        headers=site.headers("alice"), timeout=30)
    assert answer.status_code == 200
    assert answer.json()["got"] == 2000
    assert answer.json()["headers"]["transfer-encoding"] == "chunked"


def test_timeout_is_504_and_a_dead_upstream_502(site: Site) -> None:
    started = time.monotonic()
    slow = httpx.get(f"{site.url}/serving/team-a/plain/slow?s=5", headers=site.headers("alice"),
                     timeout=30)
    assert slow.status_code == 504
    assert time.monotonic() - started < 4
    error = slow.json()["error"]
    assert error["code"] == "GatewayTimeout"
    assert "InferenceGraph 'plain' in namespace 'team-a' did not answer GET " \
           "/serving/team-a/plain/slow within 0.5 s" in error["message"]
    assert httpx.get(f"{site.url}/serving/team-a/plain/slow?s=0",
                     headers=site.headers("alice")).status_code == 200
    dead = httpx.get(f"{site.url}/serving/team-a/dead/v2", headers=site.headers("alice"))
    assert dead.status_code == 502
    assert dead.json()["error"]["code"] == "BadGateway"
    assert "InferenceGraph 'dead' in namespace 'team-a' is not reachable at http://127.0.0.1:" \
        in dead.json()["error"]["message"]


def test_concurrent_requests_never_share_an_upstream_answer(site: Site) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def worker(n: int) -> list[str]:
        with httpx.Client(base_url=site.url, headers=site.headers("alice"), timeout=30) as http:
            return [http.post(f"/serving/team-a/ws/req/{n}/{i}", content=b"z" * (n * 100 + i)
                              ).json()["path"] for i in range(10)]

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(worker, range(16)))
    assert results == [[f"/req/{n}/{i}" for i in range(10)] for n in range(16)]


def test_an_answer_cut_upstream_is_cut_for_the_client(site: Site) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(f"{site.url}/serving/team-a/ws/broken", headers=site.headers("alice"))
    assert httpx.get(f"{site.url}/serving/team-a/ws/ok",
                     headers=site.headers("alice")).status_code == 200


def test_weights_split_the_traffic_and_shadows_get_copies(site: Site) -> None:
    shadow = site.seen["c"]
    before = len(shadow.requests)
    tags = []
    with httpx.Client(base_url=site.url, headers=site.headers("alice"), timeout=30) as http:
        for i in range(200):
            answer = http.post(f"/serving/team-a/split/v2/infer?i={i}", content=b"payload")
            assert answer.status_code == 200
            tags.append(answer.headers["x-backend"])
    assert set(tags) == {"a", "b"}
    assert 140 <= tags.count("a") <= 180, tags.count("a")   # 80/20 of 200, seeded
    wait_for(lambda: len(shadow.requests) >= before + 200, 30, "shadow copies")
    copies = shadow.requests[before:]
    assert {r["body"] for r in copies} == {"payload"}
    assert {r["path"] for r in copies} == {"/v2/infer"}


def test_websocket_both_ways_with_subprotocol_and_close_codes(site: Site) -> None:
    url = site.url.replace("http", "ws") + "/serving/team-a/ws/socket?q=1"
    with connect(url, additional_headers=site.headers("alice"),
                 subprotocols=["v1.kernel.websocket.jupyter.org", "chat"]) as ws:
        assert ws.subprotocol == "chat"               # the upstream's pick reaches the client
        ws.send("hello")
        assert ws.recv(timeout=10) == "a:hello"
        ws.send(b"\x01\x02\x03")
        assert ws.recv(timeout=10) == b"\x03\x02\x01"
        ws.close(4001, "client says bye")
    wait_for(lambda: site.seen["a"].closes[-1:] == [(4001, "client says bye")], 10,
             "client's close code upstream")
    upgrade = site.seen["a"].requests[-1]
    assert upgrade["path"] == "/socket" and upgrade["query"] == "q=1"
    assert upgrade["headers"]["x-flowyard-user"] == "alice"
    assert "authorization" not in upgrade["headers"] and "origin" not in upgrade["headers"]
    with connect(url, additional_headers=site.headers("alice")) as ws:
        ws.send("close:4002:upstream says bye")
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4002, "upstream says bye")


def test_head_chunked_answers_and_connection_reuse(site: Site) -> None:
    with httpx.Client(base_url=site.url, headers=site.headers("alice"), timeout=10) as http:
        for _ in range(3):  # over the same pooled upstream connection each time
            head = http.head("/serving/team-a/ws/v2/x")
            assert head.status_code == 200 and head.content == b""
            assert int(head.headers["content-length"]) > 0
            events = http.get("/serving/team-a/ws/events")
            assert events.text == "event 0\nevent 1\nevent 2\n"
            assert events.headers["transfer-encoding"] == "chunked"
            assert http.get("/serving/team-a/ws/v2/y").json()["path"] == "/v2/y"


def test_websocket_refusals_have_statuses(site: Site) -> None:
    ws_url = site.url.replace("http", "ws")

    def status(path: str, **headers: str) -> int:
        with pytest.raises(InvalidStatus) as refused:
            connect(ws_url + path, additional_headers=headers, open_timeout=10)
        return refused.value.response.status_code

    assert status("/serving/team-a/ws/socket") == 403                 # no login (middleware)
    assert status("/serving/team-a/ws/socket", **site.headers("eve")) == 404
    assert status("/serving/team-a/plain/socket", **site.headers("alice")) == 400
    assert status("/serving/team-a/dead/socket", **site.headers("alice")) == 502
    with pytest.raises(InvalidStatus) as refused:   # the upstream's own refusal, passed on
        connect(ws_url + "/serving/team-a/ws/refuse", additional_headers=site.headers("alice"))
    assert refused.value.response.status_code == 404
    assert refused.value.response.body == b'{"message": "kernel not found"}'
    # A browser session from another site: its cookie rides along, its Origin gives it away.
    cookie = site.app.state.sessions.signer.dumps({"u": "alice", "c": "csrf"})
    assert status("/serving/team-a/ws/socket", Cookie=f"flowyard_session={cookie}",
                  Origin="https://evil.example") == 403
    host = site.url.split("://")[1]
    with connect(ws_url + "/serving/team-a/ws/socket", origin=f"http://{host}",
                 additional_headers={"Cookie": f"flowyard_session={cookie}"}) as ws:
        ws.send("same origin")
        assert ws.recv(timeout=10) == "a:same origin"


def test_notebook_websocket_carries_the_jupyter_token(site: Site) -> None:
    path = "/notebook/team-a/nb/api/kernels/k%2F1/channels"
    with connect(site.url.replace("http", "ws") + path,
                 additional_headers=site.headers("alice")) as ws:
        ws.send("ping")
        assert ws.recv(timeout=10) == "a:ping"
    upgrade = site.seen["a"].requests[-1]
    assert upgrade["path"] == path
    assert upgrade["headers"]["authorization"] == "token jupyter-secret"


def test_route_validation_names_the_field(tmp_path: Path) -> None:
    from flowyard.errors import InvalidInput

    cases = [
        (dict(prefix="/serving/a/b"), "must start and end with '/'"),
        (dict(prefix="/other/a/b/"), "outside the gateway's paths"),
        (dict(backends=()), "backends is empty"),
        (dict(backends=(Backend("http://h:1/"),)), "is not scheme://host:port"),
        (dict(backends=(Backend("http://h:1", 0),)), "weights add up to 0"),
        (dict(timeout=0), "timeout 0 must be > 0"),
        (dict(rewrite="v2"), "rewrite 'v2' must start with '/'"),
        (dict(request_headers=(("X-A", "1\r\nX-Injected: 1"),)),
         "header 'X-A' is not a valid header"),
    ]
    for change, message in cases:
        fields: dict[str, Any] = dict(prefix="/serving/a/b/", backends=(Backend("http://h:1"),),
                                      kind="InferenceGraph", namespace="a", name="b")
        fields.update(change)
        with pytest.raises(InvalidInput, match=message):
            GatewayRoute(**fields)
