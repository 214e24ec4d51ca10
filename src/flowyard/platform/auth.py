"""Users, hashed API tokens, profiles and roles, and the ASGI middleware that enforces login.

Passwords are hashed with the standard library's scrypt (memory-hard, no new dependency);
API tokens are random 256-bit secrets, so a single SHA-256 of the secret is enough to store
them safely (a slow KDF protects guessable secrets, not random ones) and keeps checking a
token on every request cheap. Only the digest is stored; the token is shown once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import delete, insert, select, update

from flowyard.errors import Conflict, FlowyardError, InvalidInput, NotFound
from flowyard.platform import authschema as s
from flowyard.store.records import utcnow

if TYPE_CHECKING:
    from flowyard.store.metadata import MetadataStore

Role = Literal["view", "edit"]
ROLES: tuple[Role, ...] = ("view", "edit")
ADMIN = "admin"
TOKEN_PREFIX = "fy_"
TOKEN_CACHE_SECONDS = 2.0
TOKEN_CACHE_SIZE = 10_000  # cleared when full: cheap, and a miss only costs a lookup
# Identity headers a proxy in front of an app might set; from a client they are forgeries.
IDENTITY_HEADER_PREFIXES = (b"x-flowyard-user", b"x-forwarded-user", b"x-forwarded-email",
                            b"x-forwarded-groups", b"x-remote-user", b"remote-user",
                            b"x-auth-request-", b"kubeflow-userid", b"x-webauth-user")
PUBLIC_PATHS = frozenset({"/healthz", "/readyz"})
NAME = re.compile(r"^[a-z0-9]([-a-z0-9_.]{0,61}[a-z0-9])?$")
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class Unauthorized(FlowyardError):
    headline = "not logged in"
    exit_code = 2
    status = 401


class Forbidden(FlowyardError):
    headline = "forbidden"
    exit_code = 2
    status = 403


@dataclass(frozen=True)
class Identity:
    name: str
    admin: bool


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    enc = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${enc(salt).decode()}${enc(digest).decode()}"


def verify_password(password: str, stored: str | None) -> bool:
    try:
        algo, n, r, p, salt, digest = (stored or "").split("$")
        if algo != "scrypt":
            return False
        want = base64.b64decode(digest)
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n),
                             r=int(r), p=int(p), dklen=len(want))
    except ValueError:
        return False
    return hmac.compare_digest(got, want)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_name(what: str, name: str) -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise InvalidInput(f"{what} name {name!r} is not valid",
                           hint="use 1-63 lower-case letters, digits, '-', '_' or '.', "
                                "starting and ending with a letter or digit")
    return name


class Auth:
    """Users, tokens and profiles in the metadata store (tables of migration 0003)."""

    def __init__(self, store: MetadataStore) -> None:
        self.store = store
        # token -> (expiry, identity). Every API request carries a token, and looking it up
        # in the store costs more than proxying the request (2-3 ms against < 1 ms); a
        # short-lived cache of successful lookups keeps that off the hot path. Revoking a
        # token or deleting a user through this process clears it at once; a change made
        # by another process directly in the store is seen within TOKEN_CACHE_SECONDS.
        self._tokens: dict[str, tuple[float, Identity]] = {}

    # users --------------------------------------------------------------------------------
    def has_users(self) -> bool:
        with self.store._tx(write=False) as conn:
            return conn.execute(select(s.users.c.name).limit(1)).first() is not None

    def create_user(self, name: str, password: str | None = None, *,
                    admin: bool = False) -> None:
        check_name("user", name)
        with self.store._tx(write=True) as conn:
            if conn.execute(select(s.users.c.name).where(s.users.c.name == name)).first():
                raise Conflict(f"user {name!r} already exists")
            conn.execute(insert(s.users).values(
                name=name, password_hash=hash_password(password) if password else None,
                is_admin=admin, created_at=utcnow()))

    def set_password(self, name: str, password: str) -> None:
        with self.store._tx(write=True) as conn:
            done = conn.execute(update(s.users).where(s.users.c.name == name)
                                .values(password_hash=hash_password(password)))
            if done.rowcount == 0:
                raise NotFound(f"user {name!r} not found")

    def delete_user(self, name: str, successor: str) -> list[str]:
        """Delete `name` with its tokens and memberships; the profiles it owned pass to
        `successor` (returned), so no namespace is left without an owner. Refuses to delete
        the last admin, which would lock everyone out of user management."""
        if name == successor:
            raise Conflict(f"user {name!r} cannot delete itself",
                           hint="ask another admin to delete this user")
        with self.store._tx(write=True) as conn:
            row = conn.execute(select(s.users.c.is_admin)
                               .where(s.users.c.name == name)).first()
            if row is None:
                raise NotFound(f"user {name!r} not found", hint="GET /api/v1alpha1/users")
            if row.is_admin:
                admins = conn.execute(select(s.users.c.name)
                                      .where(s.users.c.is_admin.is_(True))).all()
                if len(admins) <= 1:
                    raise Conflict(f"user {name!r} is the last admin and cannot be deleted",
                                   hint="make another admin first")
            owned = [str(r.name) for r in conn.execute(
                select(s.profiles.c.name).where(s.profiles.c.owner == name)
                .order_by(s.profiles.c.name)).all()]
            conn.execute(update(s.profiles).where(s.profiles.c.owner == name)
                         .values(owner=successor))
            # Explicit rather than relying on ON DELETE CASCADE being enforced.
            conn.execute(delete(s.tokens).where(s.tokens.c.user_name == name))
            conn.execute(delete(s.members).where(s.members.c.user_name == name))
            conn.execute(delete(s.users).where(s.users.c.name == name))
        self._tokens.clear()
        return owned

    def list_users(self) -> list[dict[str, Any]]:
        with self.store._tx(write=False) as conn:
            rows = conn.execute(select(s.users.c.name, s.users.c.is_admin)
                                .order_by(s.users.c.name)).all()
        return [{"name": r.name, "admin": bool(r.is_admin)} for r in rows]

    def lookup(self, name: str) -> Identity | None:
        with self.store._tx(write=False) as conn:
            row = conn.execute(select(s.users.c.is_admin).where(s.users.c.name == name)).first()
        return None if row is None else Identity(name, bool(row.is_admin))

    def check_password(self, name: str, password: str) -> Identity | None:
        with self.store._tx(write=False) as conn:
            row = conn.execute(select(s.users.c.password_hash, s.users.c.is_admin)
                               .where(s.users.c.name == name)).first()
        if row is None:
            verify_password(password, hash_password("x"))  # same time for unknown users
            return None
        return Identity(name, bool(row.is_admin)) if verify_password(
            password, row.password_hash) else None

    # tokens -------------------------------------------------------------------------------
    def create_token(self, user: str, description: str = "") -> str:
        """A new API token for `user`; the returned string is the only copy of the secret."""
        token_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        with self.store._tx(write=True) as conn:
            if not conn.execute(select(s.users.c.name).where(s.users.c.name == user)).first():
                raise NotFound(f"user {user!r} not found")
            conn.execute(insert(s.tokens).values(
                id=token_id, user_name=user, digest=_digest(secret),
                description=description, created_at=utcnow()))
        return f"{TOKEN_PREFIX}{token_id}_{secret}"

    def cached_token(self, token: str) -> Identity | None:
        """The identity of a token seen valid in the last TOKEN_CACHE_SECONDS, else None."""
        hit = self._tokens.get(token)
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1]

    def authenticate_token(self, token: str) -> Identity | None:
        cached = self.cached_token(token)
        if cached is not None:
            return cached
        if not token.startswith(TOKEN_PREFIX) or token.count("_") < 2:
            return None
        token_id, _, secret = token[len(TOKEN_PREFIX):].partition("_")
        with self.store._tx(write=False) as conn:
            row = conn.execute(
                select(s.tokens.c.digest, s.users.c.name, s.users.c.is_admin)
                .join(s.users, s.users.c.name == s.tokens.c.user_name)
                .where(s.tokens.c.id == token_id)).first()
        if row is None or not hmac.compare_digest(row.digest, _digest(secret)):
            return None
        who = Identity(row.name, bool(row.is_admin))
        if len(self._tokens) >= TOKEN_CACHE_SIZE:
            self._tokens.clear()
        self._tokens[token] = (time.monotonic() + TOKEN_CACHE_SECONDS, who)
        return who

    def revoke_token(self, who: Identity, token_id: str) -> None:
        """Delete a token of `who` (any token, for an admin)."""
        query = delete(s.tokens).where(s.tokens.c.id == token_id)
        if not who.admin:
            query = query.where(s.tokens.c.user_name == who.name)
        with self.store._tx(write=True) as conn:
            done = conn.execute(query)
        self._tokens.clear()
        if done.rowcount == 0:
            raise NotFound(f"token {token_id!r} not found",
                           hint="the id is the part between 'fy_' and the next '_'")

    # profiles -----------------------------------------------------------------------------
    def create_profile(self, name: str, owner: str) -> None:
        check_name("profile", name)
        with self.store._tx(write=True) as conn:
            if conn.execute(select(s.profiles.c.name).where(s.profiles.c.name == name)).first():
                raise Conflict(f"profile {name!r} already exists")
            if not conn.execute(select(s.users.c.name).where(s.users.c.name == owner)).first():
                raise NotFound(f"owner {owner!r} of profile {name!r} is not a user",
                               hint="create the user first: POST /api/v1alpha1/users")
            conn.execute(insert(s.profiles).values(name=name, owner=owner,
                                                   created_at=utcnow()))

    def profile_owner(self, name: str) -> str | None:
        with self.store._tx(write=False) as conn:
            row = conn.execute(select(s.profiles.c.owner)
                               .where(s.profiles.c.name == name)).first()
        return None if row is None else str(row.owner)

    def set_member(self, profile: str, user: str, role: str) -> None:
        if role not in ROLES:
            raise InvalidInput(f"role {role!r} is not valid", hint="roles: edit, view")
        with self.store._tx(write=True) as conn:
            if not conn.execute(select(s.users.c.name).where(s.users.c.name == user)).first():
                raise NotFound(f"user {user!r} not found")
            conn.execute(delete(s.members).where(s.members.c.profile == profile,
                                                 s.members.c.user_name == user))
            conn.execute(insert(s.members).values(profile=profile, user_name=user, role=role))

    def remove_member(self, profile: str, user: str) -> None:
        with self.store._tx(write=True) as conn:
            done = conn.execute(delete(s.members).where(s.members.c.profile == profile,
                                                        s.members.c.user_name == user))
        if done.rowcount == 0:
            raise NotFound(f"{user!r} is not a contributor of profile {profile!r}")

    def profiles_of(self, who: Identity) -> list[dict[str, Any]]:
        """The profiles `who` may see, each with the caller's role and the contributors."""
        with self.store._tx(write=False) as conn:
            profiles = conn.execute(select(s.profiles).order_by(s.profiles.c.name)).all()
            members = conn.execute(select(s.members)).all()
        out = []
        for p in profiles:
            contributors = {m.user_name: m.role for m in members if m.profile == p.name}
            role = ("owner" if p.owner == who.name else contributors.get(who.name)
                    or (ADMIN if who.admin else None))
            if role is not None:
                out.append({"name": p.name, "owner": p.owner, "role": role,
                            "contributors": contributors})
        return out

    def role(self, who: Identity, profile: str) -> str | None:
        """owner, edit, view, admin, or None when `who` has no access to `profile`."""
        with self.store._tx(write=False) as conn:
            owner = conn.execute(select(s.profiles.c.owner)
                                 .where(s.profiles.c.name == profile)).first()
            member = conn.execute(select(s.members.c.role).where(
                s.members.c.profile == profile, s.members.c.user_name == who.name)).first()
        if owner is not None and owner.owner == who.name:
            return "owner"
        if member is not None:
            return str(member.role)
        return ADMIN if who.admin else None

    def authorize(self, who: Identity, profile: str, need: Role, what: str) -> None:
        """Raise NotFound (no access at all: existence must not leak) or Forbidden."""
        role = self.role(who, profile)
        if role is None:
            raise NotFound(f"{what} not found in namespace {profile!r}",
                           hint="check the name and namespace, or ask the profile's owner "
                                "to add you as a contributor")
        if need == "edit" and role == "view":
            raise Forbidden(f"user {who.name!r} may only view profile {profile!r}, not "
                            f"change {what}",
                            hint="ask the profile's owner for the edit role")

    def visible(self, who: Identity) -> list[str] | None:
        """Profile names `who` sees; None for an admin (every namespace)."""
        return None if who.admin else [p["name"] for p in self.profiles_of(who)]

    def bootstrap(self, default_profile: str = "default") -> str | None:
        """On the first start: an admin user, the default profile, and a token (returned)."""
        if self.has_users():
            return None
        self.create_user(ADMIN, admin=True)
        self.create_profile(default_profile, ADMIN)
        return self.create_token(ADMIN, "first start")


def identity_of(scope: Scope) -> Identity:
    who = scope.get("flowyard.identity")
    if not isinstance(who, Identity):
        raise Unauthorized("this request carries no login")
    return who


def bearer(headers: list[tuple[bytes, bytes]]) -> str | None:
    for key, value in headers:
        if key.lower() == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None


class AuthMiddleware:
    """Strip client-sent identity headers, then require a valid token on every non-public
    path; the identity goes to scope["flowyard.identity"]."""

    def __init__(self, app: ASGIApp, auth: Callable[[], Auth],
                 extra: Callable[[Scope], Awaitable[Identity | None]] | None = None,
                 public: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.auth = auth
        self.extra = extra  # e.g. the browser session cookie
        self.public = PUBLIC_PATHS | public

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = [(k, v) for k, v in scope["headers"]
                   if not k.lower().startswith(IDENTITY_HEADER_PREFIXES)]
        scope = dict(scope, headers=headers)
        scope.pop("flowyard.identity", None)
        if scope["path"] in self.public:
            await self.app(scope, receive, send)
            return
        from starlette.concurrency import run_in_threadpool

        who: Identity | None = None
        token = bearer(headers)
        try:
            if token is not None:
                auth = self.auth()
                who = auth.cached_token(token) or await run_in_threadpool(
                    auth.authenticate_token, token)
            elif self.extra is not None:
                who = await self.extra(scope)
            if who is None:
                raise Unauthorized(f"{scope['path']}: "
                                   f"{'invalid API token' if token else 'login required'}",
                                   hint="send Authorization: Bearer TOKEN (flowyard login URL "
                                        "stores one), or log in at /login")
        except FlowyardError as exc:
            await _deny(scope, send, exc)
            return
        scope["flowyard.identity"] = who
        await self.app(scope, receive, send)


async def _deny(scope: Scope, send: Send, exc: FlowyardError) -> None:
    status = exc.status if exc.status >= 400 else 500
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 4000 + status})
        return
    from flowyard.platform.codec import encode_error

    body = json.dumps(encode_error(exc)).encode()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="flowyard"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
