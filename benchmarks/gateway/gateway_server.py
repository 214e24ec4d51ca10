"""The platform's app as `flowyard up` serves it (uvicorn, login, controllers off), with one
route provider added: `/serving/default/bench/` -> the benchmark upstream, websockets on.

Usage: FLOWYARD_HOME=... python gateway_server.py PORT UPSTREAM_PORT [proxy-only]
The admin token of the first start is written to $FLOWYARD_HOME/bench-token.

`proxy-only` serves the gateway's ASGI app alone, with the admin identity set on every
request instead of AuthMiddleware's token check: the cost of proxying without the login,
for the benchmark to tell the two apart (never a way to run the platform).
"""

from __future__ import annotations

import sys
from typing import Any

import uvicorn

from flowyard.platform.api import create_app
from flowyard.platform.auth import Identity
from flowyard.platform.routes_table import Backend, GatewayRoute
from flowyard.platform.runtime import Platform
from flowyard.settings import Settings


def main() -> None:
    port, upstream = int(sys.argv[1]), int(sys.argv[2])
    settings = Settings()
    platform = Platform(settings, controllers=False)
    token = platform.auth.bootstrap()
    if token is not None:
        (settings.home / "bench-token").write_text(token)
    app = create_app(platform)
    routes = (GatewayRoute("/serving/default/bench/", (Backend(f"http://127.0.0.1:{upstream}"),),
                           "InferenceGraph", "default", "bench", websocket=True),)
    settings.home.mkdir(parents=True, exist_ok=True)
    app.state.gateway.register_provider(lambda: routes)
    served: Any = app
    if sys.argv[3:] == ["proxy-only"]:
        gateway, admin = app.state.gateway, Identity("admin", True)

        async def served(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] in ("http", "websocket"):
                scope["flowyard.identity"] = admin
                await gateway(scope, receive, send)

    uvicorn.run(served, host="127.0.0.1", port=port, log_level="warning", access_log=False,
                lifespan="on")


if __name__ == "__main__":
    main()
