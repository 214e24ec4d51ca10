"""The account API: who am I, users and tokens (admins), profiles and their contributors.

Kubeflow's model: a profile is a namespace with one owner and contributors who hold the
`edit` or `view` role. Admins create users and profiles; a profile's owner (or an admin)
adds and removes its contributors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from flowyard.errors import InvalidInput, NotFound
from flowyard.platform.api import API, blocking, guarded, json_body
from flowyard.platform.auth import Forbidden, Identity, identity_of
from flowyard.platform.responses import JSONResponse

if TYPE_CHECKING:
    from flowyard.platform.runtime import Platform
    from flowyard.platform.session import Sessions


def _admin(request: Request, what: str) -> Identity:
    who = identity_of(request.scope)
    if not who.admin:
        raise Forbidden(f"user {who.name!r} may not {what}: only admins can",
                        hint="ask an admin of this platform")
    return who


async def _object(request: Request) -> dict[str, Any]:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise InvalidInput(f"{request.method} {request.url.path}: expected a JSON object, "
                           f"got {type(body).__name__}")
    return body


def _text(body: dict[str, Any], field: str, where: str, *, required: bool = True) -> str | None:
    value = body.get(field)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"{where}: field {field!r} must be a non-empty string, got "
                           f"{value!r}")
    return value


class AccountApi:
    def __init__(self, platform: Platform, sessions: Sessions) -> None:
        self.p = platform
        # Checking currentPassword is a password guess like a login: same slowdown.
        self.sessions = sessions

    async def whoami(self, request: Request) -> Response:
        who = identity_of(request.scope)
        profiles = await blocking(self.p.auth.profiles_of, who)
        return JSONResponse({"name": who.name, "admin": who.admin,
                             "profiles": [{"name": p["name"], "role": p["role"]}
                                          for p in profiles]})

    async def list_users(self, request: Request) -> Response:
        _admin(request, "list users")
        return JSONResponse({"items": await blocking(self.p.auth.list_users)})

    async def create_user(self, request: Request) -> Response:
        _admin(request, "create users")
        body = await _object(request)
        name = _text(body, "name", "POST /users")
        password = _text(body, "password", "POST /users", required=False)
        await blocking(self.p.auth.create_user, name, password, admin=bool(body.get("admin")))
        return JSONResponse({"name": name, "admin": bool(body.get("admin"))}, status_code=201)

    async def delete_user(self, request: Request) -> Response:
        """Admins only; the user's tokens stop working at once, its profiles pass to the
        admin who deletes it."""
        user: str = request.path_params["user"]
        who = _admin(request, f"delete user {user!r}")
        owned = await blocking(self.p.auth.delete_user, user, who.name)
        return JSONResponse({"name": user, "status": "deleted",
                             "profilesTransferred": owned, "newOwner": who.name})

    async def set_password(self, request: Request) -> Response:
        """An admin sets anyone's password; a user sets their own, proving the current one."""
        who = identity_of(request.scope)
        user: str = request.path_params["user"]
        where = f"PUT /users/{user}/password"
        if user != who.name:
            _admin(request, f"set the password of user {user!r}")
        body = await _object(request)
        password = _text(body, "password", where)
        assert password is not None
        if not who.admin:
            current = _text(body, "currentPassword", where)
            assert current is not None
            if await self.sessions.check(request, user, current) is None:
                raise Forbidden(f"{where}: currentPassword is not the current password of "
                                f"user {user!r}",
                                hint="a user without a password asks an admin to set one")
        await blocking(self.p.auth.set_password, user, password)
        return JSONResponse({"name": user, "status": "password set"})

    async def create_token(self, request: Request) -> Response:
        """A token for the caller (or, for an admin, for `user`); shown this once."""
        who = identity_of(request.scope)
        body = await _object(request)
        user = _text(body, "user", "POST /tokens", required=False) or who.name
        if user != who.name:
            _admin(request, f"create tokens for {user!r}")
        token = await blocking(self.p.auth.create_token, user,
                               str(body.get("description") or ""))
        return JSONResponse({"user": user, "token": token}, status_code=201)

    async def revoke_token(self, request: Request) -> Response:
        token_id = request.path_params["token"]
        await blocking(self.p.auth.revoke_token, identity_of(request.scope), token_id)
        return JSONResponse({"id": token_id, "status": "revoked"})

    async def list_profiles(self, request: Request) -> Response:
        items = await blocking(self.p.auth.profiles_of, identity_of(request.scope))
        return JSONResponse({"items": items})

    async def create_profile(self, request: Request) -> Response:
        who = _admin(request, "create profiles")
        body = await _object(request)
        name = _text(body, "name", "POST /profiles")
        owner = _text(body, "owner", "POST /profiles", required=False) or who.name
        await blocking(self.p.auth.create_profile, name, owner)
        return JSONResponse({"name": name, "owner": owner}, status_code=201)

    async def _manage(self, request: Request) -> str:
        """The profile of the URL, if the caller owns it or is an admin."""
        who = identity_of(request.scope)
        profile: str = request.path_params["profile"]
        role = await blocking(self.p.auth.role, who, profile)
        owner = await blocking(self.p.auth.profile_owner, profile)
        if role is None or owner is None:
            raise NotFound(f"profile {profile!r} not found",
                           hint="flowyard profile list shows yours")
        if role not in ("owner", "admin"):
            raise Forbidden(f"user {who.name!r} may not manage contributors of profile "
                            f"{profile!r}: only its owner {owner!r} or an admin can")
        return profile

    async def set_contributor(self, request: Request) -> Response:
        profile = await self._manage(request)
        body = await _object(request)
        role = _text(body, "role", f"PUT /profiles/{profile}/contributors")
        user = request.path_params["user"]
        await blocking(self.p.auth.set_member, profile, user, role)
        return JSONResponse({"profile": profile, "user": user, "role": role})

    async def remove_contributor(self, request: Request) -> Response:
        profile = await self._manage(request)
        user = request.path_params["user"]
        await blocking(self.p.auth.remove_member, profile, user)
        return JSONResponse({"profile": profile, "user": user, "status": "removed"})


def account_routes(api: AccountApi) -> list[Route]:
    g = guarded
    member = f"{API}/profiles/{{profile}}/contributors/{{user}}"
    return [
        Route(f"{API}/whoami", g(api.whoami), methods=["GET"]),
        Route(f"{API}/users", g(api.list_users), methods=["GET"]),
        Route(f"{API}/users", g(api.create_user), methods=["POST"]),
        Route(f"{API}/users/{{user}}", g(api.delete_user), methods=["DELETE"]),
        Route(f"{API}/users/{{user}}/password", g(api.set_password), methods=["PUT"]),
        Route(f"{API}/tokens", g(api.create_token), methods=["POST"]),
        Route(f"{API}/tokens/{{token}}", g(api.revoke_token), methods=["DELETE"]),
        Route(f"{API}/profiles", g(api.list_profiles), methods=["GET"]),
        Route(f"{API}/profiles", g(api.create_profile), methods=["POST"]),
        Route(member, g(api.set_contributor), methods=["PUT"]),
        Route(member, g(api.remove_contributor), methods=["DELETE"]),
    ]
