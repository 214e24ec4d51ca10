"""`flowyard profile create|list|add-contributor|remove-contributor` (on a platform)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from flowyard.errors import ConfigError

if TYPE_CHECKING:
    from flowyard.client.http import HttpTransport

app = typer.Typer(help="Profiles (namespaces): owners and contributors.", no_args_is_help=True)
API = "/api/v1alpha1"


def _platform() -> HttpTransport:
    from flowyard.client import Client
    from flowyard.client.http import HttpTransport

    transport = Client().transport
    if not isinstance(transport, HttpTransport):
        raise ConfigError("profiles live on a Flowyard platform, and no server is set",
                          hint="flowyard login URL, or --server URL / FLOWYARD_SERVER")
    return transport


def platform_call(method: str, path: str, **kw: Any) -> Any:
    """One JSON request to the logged-in platform (profile, user and token commands)."""
    transport = _platform()
    try:
        return transport._json(method, path, **kw)
    finally:
        transport.close()


@app.command("create")
def create_command(
    name: Annotated[str, typer.Argument(help="Profile name.")],
    owner: Annotated[str | None, typer.Option(help="Owner (default: you).")] = None,
) -> None:
    """Create a profile (admins only)."""
    made = platform_call("POST", f"{API}/profiles", json={"name": name, "owner": owner})
    typer.echo(f"profile/{made['name']} created (owner {made['owner']})")


@app.command("list")
def list_command() -> None:
    """The profiles you can see, with your role and the contributors."""
    items = platform_call("GET", f"{API}/profiles")["items"]
    typer.echo(f"{'NAME':<24} {'OWNER':<16} {'ROLE':<6} CONTRIBUTORS")
    for p in items:
        people = ", ".join(f"{u}({r})" for u, r in sorted(p["contributors"].items()))
        typer.echo(f"{p['name']:<24} {p['owner']:<16} {p['role']:<6} {people or '-'}")


@app.command("add-contributor")
def add_contributor_command(
    profile: Annotated[str, typer.Argument(help="Profile name.")],
    user: Annotated[str, typer.Argument(help="User to add.")],
    role: Annotated[str, typer.Option(help="edit or view.")] = "edit",
) -> None:
    """Give a user a role in a profile (its owner or an admin)."""
    platform_call("PUT", f"{API}/profiles/{profile}/contributors/{user}", json={"role": role})
    typer.echo(f"{user} is now a contributor of profile {profile} (role {role})")


@app.command("remove-contributor")
def remove_contributor_command(
    profile: Annotated[str, typer.Argument(help="Profile name.")],
    user: Annotated[str, typer.Argument(help="User to remove.")],
) -> None:
    """Take a user's role in a profile away."""
    platform_call("DELETE", f"{API}/profiles/{profile}/contributors/{user}")
    typer.echo(f"{user} removed from profile {profile}")
