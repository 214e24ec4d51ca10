"""Serve the platform with uvicorn; the state file under FLOWYARD_HOME says where it runs."""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowyard.errors import ConfigError, FlowyardError

if TYPE_CHECKING:
    from flowyard.settings import Settings

DEFAULT_PORT = 8470


def state_file(settings: Settings) -> Path:
    return settings.home / "platform" / "server.json"


def initial_token_file(settings: Settings) -> Path:
    """Where the first start leaves the admin's token (mode 0600) for `flowyard up -d`."""
    return settings.home / "platform" / "initial-admin-token"


def first_login_message(url: str, token: str, token_file: Path) -> str:
    return (f"\nFirst start: created the admin user 'admin'. Log in with\n"
            f"    flowyard login {url} --token {token}\n"
            f"or open {url}/login?token={token} in a browser.\n"
            f"This token is shown once (also kept, mode 0600, in {token_file}).\n")


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def read_state(settings: Settings) -> dict[str, Any] | None:
    """The running platform's {pid, url, host, port}, or None (a stale file is removed)."""
    path = state_file(settings)
    try:
        state: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        pid = int(state["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        # Unreadable is not stale: removing it here once raced a server still writing it,
        # and `flowyard up --detach` then waited 30 s for a file that was gone.
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        with contextlib.suppress(OSError):
            path.unlink()
        return None
    except PermissionError:
        pass  # alive, another user's process
    return state


def _write_state(path: Path, state: dict[str, Any]) -> None:
    """Replace the state file atomically, so a reader never sees half of it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(state), encoding="utf-8")
    os.replace(tmp, path)


def serve(settings: Settings, host: str = "127.0.0.1", port: int = DEFAULT_PORT, *,
          log_level: str = "info") -> None:
    """Run the API and the controllers in this process until SIGINT/SIGTERM."""
    import socket

    import uvicorn

    from flowyard.platform.api import create_app
    from flowyard.platform.runtime import Platform

    running = read_state(settings)
    if running is not None:
        raise ConfigError(f"a Flowyard platform already runs for {settings.home} "
                          f"(pid {running['pid']}, {running['url']})",
                          hint="flowyard down stops it; or set FLOWYARD_HOME")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}",
                          hint="choose another port with --port") from exc
    bound_port = int(sock.getsockname()[1])
    logging.basicConfig(level=getattr(logging, log_level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # readiness polls: 2 lines a second
    url = f"http://{host}:{bound_port}"
    path = state_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    platform = Platform(settings)
    try:
        first_token = platform.auth.bootstrap(settings.namespace)
    except FlowyardError:
        sock.close()
        raise
    token_file = initial_token_file(settings)
    if first_token is not None:
        _write_private(token_file, first_token + "\n")
    config = uvicorn.Config(create_app(platform), log_level=log_level,
                            access_log=False, lifespan="on", timeout_graceful_shutdown=3)
    server = uvicorn.Server(config)
    original_startup = server.startup

    async def startup(sockets: list[socket.socket] | None = None) -> None:
        await original_startup(sockets)
        # Written once the port answers: `flowyard up --detach` waits for this file.
        _write_state(path, {"pid": os.getpid(), "url": url, "host": host,
                            "port": bound_port})
        logging.getLogger("flowyard.platform").info("Flowyard platform ready at %s", url)
        if first_token is not None:
            # As Jupyter prints its token: the one way in on a fresh platform.
            print(first_login_message(url, first_token, token_file), flush=True)

    original_shutdown = server.shutdown

    async def shutdown(sockets: list[socket.socket] | None = None) -> None:
        try:
            await original_shutdown(sockets)
        finally:
            # Here rather than after run(): uvicorn re-raises the SIGTERM it caught once
            # it has shut down, and that ends the process before run() returns.
            _remove_state(path)

    server.startup = startup  # type: ignore[method-assign]
    server.shutdown = shutdown  # type: ignore[method-assign]
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # Ctrl-C: uvicorn has already stopped everything; re-raised SIGINT lands here
    finally:
        _remove_state(path)


def _remove_state(path: Path) -> None:
    with contextlib.suppress(OSError, ValueError):
        if json.loads(path.read_text(encoding="utf-8")).get("pid") == os.getpid():
            path.unlink()
