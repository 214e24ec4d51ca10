"""`flowyard login URL`: check a token (or trade a password for one) and store it."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from flowyard.errors import ConfigError, InvalidInput

API = "/api/v1alpha1"


def _call(method: str, url: str, **kw: Any) -> Any:
    import httpx

    from flowyard.platform.codec import decode_error

    try:
        answer = httpx.request(method, url, timeout=30, **kw)
    except httpx.HTTPError as exc:
        raise ConfigError(f"cannot reach the Flowyard platform at {url}: {exc}",
                          hint="check the URL; `flowyard status` shows a local one") from exc
    try:
        body = answer.json()
    except ValueError:
        body = answer.text
    if answer.status_code >= 400:
        raise decode_error(answer.status_code, body, f"{method} {url}")
    return body


def login_command(
    url: Annotated[str, typer.Argument(help="The platform, e.g. http://127.0.0.1:8470.")],
    token: Annotated[str | None, typer.Option(
        "--token", envvar="FLOWYARD_TOKEN",
        help="An API token (the first start of `flowyard up` prints one).")] = None,
    user: Annotated[str | None, typer.Option(
        "--user", "-u", help="Log in with a user name and password instead.")] = None,
    password: Annotated[str | None, typer.Option(
        "--password", help="The password (asked for when omitted).")] = None,
) -> None:
    """Log in to a Flowyard platform; later commands and Client() use it."""
    from flowyard.client.client import settings_from_env
    from flowyard.client.http import save_login

    server = url.rstrip("/")
    if not server.startswith(("http://", "https://")):
        raise InvalidInput(f"server URL {url!r} must start with http:// or https://",
                           hint="e.g. flowyard login http://127.0.0.1:8470")
    if user is not None:
        if password is None:
            password = typer.prompt("Password", hide_input=True)
        token = _call("POST", f"{server}{API}/login",
                      json={"user": user, "password": password,
                            "description": "flowyard login"})["token"]
    elif token is None:
        token = typer.prompt("API token", hide_input=True)
    who = _call("GET", f"{server}{API}/whoami", headers={"Authorization": f"Bearer {token}"})
    path = save_login(settings_from_env().home, server, str(token))
    typer.echo(f"Logged in to {server} as {who['name']}"
               f"{' (admin)' if who.get('admin') else ''}; credentials in {path}")
