"""Network helpers for tests: a free loopback port, and waiting for an HTTP server."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any


def free_port(host: str = "127.0.0.1") -> int:
    """A port that is free *now* (the kernel picks it); prefer port 0 where a server allows."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_http(
    url: str,
    timeout: float = 30.0,
    ok: Callable[[Any], bool] = lambda r: r.status_code < 500,
    proc: Any = None,
) -> Any:
    """Poll `url` until `ok(response)`; fail fast when `proc` (a Popen) has exited."""
    import requests

    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before {url} answered")
        try:
            response = requests.get(url, timeout=2)
            if ok(response):
                return response
            last = f"HTTP {response.status_code}"
        except requests.RequestException as exc:
            last = repr(exc)
        time.sleep(0.1)
    raise TimeoutError(f"{url} not ready after {timeout}s: {last}")
