"""`flowyard user ...` and `flowyard token ...`: accounts on a platform (admins manage users).

Both talk to the platform's account routes through the HTTP transport (profile.py's
`platform_call`), so `flowyard login URL` or --server / FLOWYARD_SERVER with a token selects where.
Passwords are prompted for (hidden) unless given, so they stay out of shell history.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

import typer

from flowyard.cli.output import OutputFormat
from flowyard.cli.profile import API, platform_call

user_app = typer.Typer(help="Users of a platform (admins): create, list, delete, passwords.",
                       no_args_is_help=True)
token_app = typer.Typer(help="API tokens: create one (shown once), revoke one.",
                        no_args_is_help=True)
Output = Annotated[OutputFormat, typer.Option("--output", "-o", help="Output format.")]


def _q(part: str) -> str:
    return quote(part, safe="")


@user_app.command("create")
def user_create(
    name: Annotated[str, typer.Argument(help="User name.", show_default=False)],
    password: Annotated[str | None, typer.Option(
        help="Password (none: the user logs in with tokens only).")] = None,
    admin: Annotated[bool, typer.Option("--admin", help="Make the user an admin.")] = False,
) -> None:
    """Create a user (admins only)."""
    made = platform_call("POST", f"{API}/users", json={"name": name, "password": password,
                                                "admin": admin})
    typer.echo(f"user/{made['name']} created" + (" (admin)" if made["admin"] else ""))


@user_app.command("list")
def user_list(output: Output = OutputFormat.table) -> None:
    """Every user (admins only)."""
    from flowyard.cli.output import print_data

    items = platform_call("GET", f"{API}/users")["items"]
    if output is not OutputFormat.table:
        print_data(items, output)
        return
    typer.echo(f"{'NAME':<24} ADMIN")
    for u in items:
        typer.echo(f"{u['name']:<24} {'yes' if u['admin'] else 'no'}")


@user_app.command("delete")
def user_delete(
    name: Annotated[str, typer.Argument(help="User name.", show_default=False)],
) -> None:
    """Delete a user and its tokens; the profiles it owned pass to you (admins only)."""
    done = platform_call("DELETE", f"{API}/users/{_q(name)}")
    moved = done.get("profilesTransferred") or []
    typer.echo(f"user/{name} deleted" + (f"; profiles {', '.join(moved)} now belong to "
                                          f"{done['newOwner']}" if moved else ""))


@user_app.command("set-password")
def user_set_password(
    name: Annotated[str, typer.Argument(help="User name.", show_default=False)],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True,
                                          confirmation_prompt=True,
                                          help="The new password (prompted when omitted).")],
    current: Annotated[str | None, typer.Option(
        "--current-password", help="Your current password (needed unless you are an admin).")
    ] = None,
) -> None:
    """Set a password: admins for anyone, a user for itself with --current-password."""
    body = {"password": password, **({"currentPassword": current} if current else {})}
    platform_call("PUT", f"{API}/users/{_q(name)}/password", json=body)
    typer.echo(f"password of user/{name} set")


@token_app.command("create")
def token_create(
    description: Annotated[str, typer.Option(help="What the token is for.")] = "",
    user: Annotated[str | None, typer.Option(
        help="Whose token (admins; default: yours).")] = None,
) -> None:
    """A new API token; it is printed once (on stdout, alone), keep it safe."""
    made = platform_call("POST", f"{API}/tokens", json={"description": description,
                                                 **({"user": user} if user else {})})
    typer.echo(f"token for user/{made['user']} (shown once):", err=True)
    typer.echo(made["token"])


@token_app.command("revoke")
def token_revoke(
    token: Annotated[str, typer.Argument(
        help="The token id (the part between 'fy_' and the next '_'), or the whole token.",
        show_default=False)],
) -> None:
    """Revoke a token (yours; admins: anyone's); it stops working at once."""
    token_id = token
    if token.startswith("fy_"):
        token_id = token[3:].partition("_")[0]
    platform_call("DELETE", f"{API}/tokens/{_q(token_id)}")
    typer.echo(f"token {token_id} revoked")
