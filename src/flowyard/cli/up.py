"""`flowyard up`, `down` and `status`: the platform on this machine."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from flowyard.errors import ConfigError, NotFound
from flowyard.processes import pid_alive

if TYPE_CHECKING:
    from flowyard.settings import Settings

# flowyard.platform.server.DEFAULT_PORT, not imported so that --help stays fast
DEFAULT_PORT = 8470
# The home the quickstart and docs use (`export FLOWYARD_HOME=$PWD/.flowyard`).
LOCAL_HOME = ".flowyard"


def up_command(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port).")]
    = DEFAULT_PORT,
    detach: Annotated[bool, typer.Option("--detach", "-d",
                                         help="Run in the background; stop with "
                                              "`flowyard down`.")] = False,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Start the Flowyard platform: API server and controllers (Ctrl-C stops it)."""
    from flowyard.client.client import settings_from_env
    from flowyard.platform.server import initial_token_file, read_state, serve

    settings = settings_from_env()
    if not detach:
        serve(settings, host, port, log_level=log_level)
        return
    running = read_state(settings)
    if running is not None:
        raise ConfigError(f"a Flowyard platform already runs for {settings.home} "
                          f"(pid {running['pid']}, {running['url']})",
                          hint="flowyard down stops it")
    home = settings.ensure_home()
    token_file = initial_token_file(settings)
    token_before = _stamp(token_file)
    log = home / "platform" / "server.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "flowyard.platform", "--host", host, "--port", str(port),
             "--log-level", log_level],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, close_fds=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        state = read_state(settings)
        if state is not None and state.get("pid") == proc.pid:
            typer.echo(f"Flowyard platform running at {state['url']} (pid {proc.pid}); "
                       f"log: {log}")
            _first_login(str(state["url"]), token_file, token_before)
            return
        if proc.poll() is not None:
            tail = log.read_text(encoding="utf-8", errors="replace")[-2000:]
            raise ConfigError(f"the platform exited with code {proc.returncode} while "
                              f"starting:\n{tail.strip()}", hint=f"full log: {log}")
        time.sleep(0.01)  # a stat and a small read: polling often costs next to nothing
    raise ConfigError(f"the platform (pid {proc.pid}) did not become ready in 30 s",
                      hint=f"see {log}")


def _stamp(path: Path) -> tuple[int, int] | None:
    """(inode, mtime) of `path`, or None if it does not exist."""
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_ino, info.st_mtime_ns


def _first_login(url: str, token_file: Path, before: tuple[int, int] | None) -> None:
    """The login line the detached server printed to its log, if this start created the
    admin: the token file is new (or rewritten) since before the start."""
    from flowyard.platform.server import first_login_message

    now = _stamp(token_file)
    if now is None or now == before:
        return
    try:
        token = token_file.read_text(encoding="utf-8").strip()
    except OSError:
        return
    if token:
        typer.echo(first_login_message(url, token, token_file))


def down_command(
    timeout: Annotated[float, typer.Option(help="Seconds to wait before SIGKILL.")] = 15.0,
) -> None:
    """Stop the platform started with `flowyard up --detach`."""
    from flowyard.client.client import settings_from_env
    from flowyard.platform.server import read_state

    settings = settings_from_env()
    state = read_state(settings)
    if state is None:
        here = _platform_here(settings)
        if here is not None:
            raise NotFound(f"no Flowyard platform runs for {settings.home}; one runs for "
                           f"./{LOCAL_HOME} ({here['url']}, pid {here['pid']})",
                           hint=f"FLOWYARD_HOME=$PWD/{LOCAL_HOME} flowyard down")
        raise NotFound(f"no Flowyard platform runs for {settings.home}",
                       hint="flowyard up --detach starts one")
    pid = int(state["pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            typer.echo(f"Flowyard platform stopped (pid {pid})")
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    typer.echo(f"Flowyard platform killed after {timeout:g} s (pid {pid})")


def _platform_here(settings: Settings) -> dict[str, Any] | None:
    """The state of a platform running for ./.flowyard when FLOWYARD_HOME is another home:
    the quickstart's home, which a new shell without its `export FLOWYARD_HOME` misses."""
    from flowyard.platform.server import read_state

    local = Path.cwd() / LOCAL_HOME
    try:
        if not local.is_dir() or local.resolve() == settings.home.expanduser().resolve():
            return None
    except OSError:
        return None
    return read_state(settings.model_copy(update={"home": local}))


def _answers_ready(url: str) -> bool:
    """GET /readyz answers 200. urllib rather than httpx, whose import (with the rich
    console of its CLI) took longer than the question; no proxy: the server is local."""
    import urllib.error
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{url}/readyz", timeout=2) as answer:
            return int(answer.status) == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False  # HTTPError (not 2xx) is a URLError too


def status_command() -> None:
    """Say whether the platform runs, where, and whether it is ready."""
    from flowyard.client.client import settings_from_env
    from flowyard.platform.server import read_state

    settings = settings_from_env()
    state = read_state(settings)
    if state is None:
        here = _platform_here(settings)
        elsewhere = "" if here is None else (
            f"; one runs for ./{LOCAL_HOME} at {here['url']} (pid {here['pid']}): "
            f"FLOWYARD_HOME=$PWD/{LOCAL_HOME} flowyard status")
        typer.echo(f"Flowyard platform: not running (home {settings.home}){elsewhere}")
        raise typer.Exit(1)
    ready = _answers_ready(str(state["url"]))
    typer.echo(f"Flowyard platform: running at {state['url']} (pid {state['pid']}), "
               f"{'ready' if ready else 'NOT ready'}")
