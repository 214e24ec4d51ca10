"""Browser login: a server-rendered form, a signed session cookie, CSRF checks, and the
password-to-token exchange the CLI uses; failed logins are slowed down.

The cookie is signed with itsdangerous (a secret kept 0600 under FLOWYARD_HOME, so sessions
survive a restart) and carries the user and a CSRF token. Requests authenticated by the
cookie that change state must echo that token (header X-CSRF-Token, or the `csrf` form
field); bearer-token requests need not, since a browser never adds a bearer header itself.
"""

from __future__ import annotations

import asyncio
import html
import os
import secrets
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from flowyard.errors import InvalidInput
from flowyard.platform.api import API, blocking, guarded, json_body
from flowyard.platform.auth import Forbidden, Identity, Scope, Unauthorized
from flowyard.platform.responses import JSONResponse

if TYPE_CHECKING:
    from pathlib import Path

    from flowyard.platform.runtime import Platform

COOKIE = "flowyard_session"
CSRF_COOKIE = "flowyard_csrf"
MAX_AGE = 12 * 3600
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
NOTEBOOK_PATHS = "/notebook/"
PUBLIC = frozenset({"/", "/login", "/logout", f"{API}/login"})


class Throttle:
    """Failed logins per user and per client address; from the `free`-th failure on, each
    answer waits base * 2**n seconds (capped), so guessing gets slower and slower."""

    MAX_KEYS = 100_000

    def __init__(self, base: float = 0.5, cap: float = 30.0, free: int = 3,
                 window: float = 900.0) -> None:
        self.base, self.cap, self.free, self.window = base, cap, free, window
        self.failures: dict[str, tuple[int, float]] = {}

    def delay(self, *keys: str) -> float:
        now = time.monotonic()
        worst = 0
        for key in keys:
            count, last = self.failures.get(key, (0, now))
            if now - last > self.window:
                self.failures.pop(key, None)
                count = 0
            worst = max(worst, count)
        if worst < self.free:
            return 0.0
        return float(min(self.cap, self.base * 2 ** (worst - self.free)))

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        if len(self.failures) > self.MAX_KEYS:  # random user names must not fill memory
            self.failures = {k: v for k, v in self.failures.items()
                             if now - v[1] <= self.window}
            while len(self.failures) > self.MAX_KEYS:
                del self.failures[next(iter(self.failures))]
        for key in keys:
            self.failures[key] = (self.failures.get(key, (0, now))[0] + 1, now)

    def succeeded(self, *keys: str) -> None:
        for key in keys:
            self.failures.pop(key, None)


def _secret(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race; use its secret
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value)
    return value


class Sessions:
    def __init__(self, platform: Platform) -> None:
        self.p = platform
        self.throttle = Throttle()
        self._signer: URLSafeTimedSerializer | None = None

    @property
    def signer(self) -> URLSafeTimedSerializer:
        if self._signer is None:
            secret = _secret(self.p.settings.home / "platform" / "session-secret")
            self._signer = URLSafeTimedSerializer(secret, salt="flowyard-session")
        return self._signer

    def read(self, scope: Scope) -> dict[str, Any] | None:
        cookie = _cookies(scope).get(COOKIE)
        if not cookie:
            return None
        try:
            data = self.signer.loads(cookie, max_age=MAX_AGE)
        except BadSignature:
            return None
        return data if isinstance(data, dict) and "u" in data and "c" in data else None

    async def identity(self, scope: Scope) -> Identity | None:
        """The cookie's user (for AuthMiddleware), with the CSRF check on unsafe methods."""
        data = self.read(scope)
        if data is None:
            return None
        who = await blocking(self.p.auth.lookup, str(data["u"]))
        if who is not None and scope.get("method") in UNSAFE:
            sent = _header(scope, b"x-csrf-token")
            if sent and secrets.compare_digest(sent, str(data["c"])):
                return who
            # JupyterLab cannot send our token (it sends its own X-XSRFToken, which Jupyter
            # ignores behind the gateway's token): for notebook paths, the request's origin
            # must be this very site, the header check OWASP recommends beside tokens.
            if not (scope["path"].startswith(NOTEBOOK_PATHS) and _same_origin(scope)):
                raise Forbidden(f"{scope['path']}: missing or wrong CSRF token",
                                hint="send the X-CSRF-Token header of the login session")
        return who

    def start(self, response: Response, request: Request, user: str) -> None:
        value = self.signer.dumps({"u": user, "c": secrets.token_urlsafe(16)})
        response.set_cookie(COOKIE, value, max_age=MAX_AGE, httponly=True, samesite="lax",
                            secure=request.url.scheme == "https", path="/")

    # -- handlers ---------------------------------------------------------------------------
    async def home(self, request: Request) -> Response:
        data = self.read(request.scope)
        if data is None:
            return RedirectResponse("/login", status_code=303)
        from flowyard.platform.dashboard import shell

        return shell(str(data["u"]), str(data["c"]))  # the dashboard (docs/dashboard.md)

    async def login_form(self, request: Request) -> Response:
        token = request.query_params.get("token")
        if token:  # the first-start link, as Jupyter's ?token=
            who = await blocking(self.p.auth.authenticate_token, token)
            if who is None:
                return self._form(request, "This login link is not valid.", 401)
            response = RedirectResponse("/", status_code=303)
            self.start(response, request, who.name)
            return response
        return self._form(request, None, 200)

    def _form(self, request: Request, error: str | None, status: int) -> Response:
        csrf = _cookies(request.scope).get(CSRF_COOKIE) or secrets.token_urlsafe(16)
        message = f'<p class="error">{html.escape(error)}</p>' if error else ""
        response = HTMLResponse(_page("Log in to Flowyard", f"""{message}
<form method="post" action="/login">
<input type="hidden" name="csrf" value="{html.escape(csrf)}">
<label>User <input name="user" autocomplete="username" required></label>
<label>Password <input name="password" type="password" autocomplete="current-password"
required></label>
<button>Log in</button></form>"""), status_code=status)
        response.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="lax",
                            secure=request.url.scheme == "https", path="/login")
        return response

    async def login_submit(self, request: Request) -> Response:
        form = await _form_fields(request)
        csrf = _cookies(request.scope).get(CSRF_COOKIE)
        if not csrf or not secrets.compare_digest(csrf, form.get("csrf", "")):
            return self._form(request, "The form expired; please try again.", 403)
        who = await self.check(request, form.get("user", ""), form.get("password", ""))
        if who is None:
            return self._form(request, "Wrong user name or password.", 401)
        response = RedirectResponse("/", status_code=303)
        self.start(response, request, who.name)
        return response

    async def logout(self, request: Request) -> Response:
        data = self.read(request.scope)
        form = await _form_fields(request)
        if data is not None and not secrets.compare_digest(str(data["c"]),
                                                           form.get("csrf", "")):
            return HTMLResponse(_page("Flowyard", "<p>Missing CSRF token.</p>"),
                                status_code=403)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    async def api_login(self, request: Request) -> Response:
        """POST {user, password, description} -> {user, token}: what `flowyard login` uses."""
        body = await json_body(request)
        if not isinstance(body, dict) or not isinstance(body.get("user"), str) \
                or not isinstance(body.get("password"), str):
            raise InvalidInput(f"POST {API}/login expects {{user, password}}, got "
                               f"{type(body).__name__}")
        who = await self.check(request, body["user"], body["password"])
        if who is None:
            raise Unauthorized(f"wrong user name or password for {body['user']!r}")
        token = await blocking(self.p.auth.create_token, who.name,
                               str(body.get("description") or "flowyard login"))
        return JSONResponse({"user": who.name, "token": token}, status_code=201)

    async def check(self, request: Request, user: str, password: str) -> Identity | None:
        """`user` if `password` is theirs, else None; every caller that checks a password
        (login form, `POST /login`, a user changing its own password) goes through here, so
        each failure slows the next attempt on that user and from that client alike."""
        keys = (f"user:{user}", f"ip:{request.client.host if request.client else '-'}")
        wait = self.throttle.delay(*keys)
        if wait:
            await asyncio.sleep(wait)
        who = await blocking(self.p.auth.check_password, user, password)
        if who is None:
            self.throttle.failed(*keys)
        else:
            self.throttle.succeeded(*keys)
        return who


_LOGO = ('<svg viewBox="0 0 32 32" width="28" height="28" aria-hidden="true"><rect width="32" '
         'height="32" rx="8" fill="#2563eb"/><path d="M9 10h14M9 16h9M9 22h5" stroke="#fff" '
         'stroke-width="3" stroke-linecap="round"/><circle cx="23" cy="22" r="3" '
         'fill="#93c5fd"/></svg>')
# The login page matches the dashboard's look with a few inline rules (and no script).
_STYLE = """body{font:14px system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;margin:0;
color:#1b2330;background:#f5f7fa;min-height:100vh;display:flex;align-items:center;
justify-content:center}main{background:#fff;border:1px solid #e3e8ef;border-radius:12px;
box-shadow:0 4px 18px rgba(16,24,40,.06);padding:30px 34px;width:23rem}.brand{display:flex;
gap:10px;align-items:center;font-weight:700;font-size:18px;margin-bottom:20px}h1{font-size:
17px;margin:0 0 14px}label{display:block;margin:12px 0;font-weight:600;font-size:13px;
color:#475569}input{display:block;box-sizing:border-box;width:100%;margin-top:6px;padding:8px
10px;border:1px solid #cfd6e0;border-radius:7px;font:inherit;color:inherit}input:focus{outline:
2px solid #e8f0fe;border-color:#2563eb}button{margin-top:10px;width:100%;padding:9px;border:0;
border-radius:7px;background:#2563eb;color:#fff;font:inherit;font-weight:600;cursor:pointer}
button:hover{background:#1d4ed8}.error{color:#8f1d1d;background:#fdecec;border:1px solid
#f6c4c4;padding:8px 10px;border-radius:7px}"""


def _page(title: str, body: str) -> str:
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title><style>{_STYLE}</style></head>
<body><main><div class="brand">{_LOGO}<span>Flowyard</span></div>
<h1>{html.escape(title)}</h1>{body}</main></body></html>"""


def _cookies(scope: Scope) -> dict[str, str]:
    from starlette.requests import cookie_parser

    raw = _header(scope, b"cookie")
    return cookie_parser(raw) if raw else {}


def _same_origin(scope: Scope) -> bool:
    """Origin (else Referer) names the host the request was sent to; absent both: no."""
    host = _header(scope, b"host")
    source = _header(scope, b"origin") or _header(scope, b"referer")
    if not host or not source or source == "null":
        return False
    return urlsplit(source).netloc == host


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


async def _form_fields(request: Request) -> dict[str, str]:
    # urlencoded only: parsing multipart would need python-multipart, and the form is ours.
    raw = (await request.body()).decode("utf-8", "replace")
    return {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}


def session_routes(sessions: Sessions) -> list[Route]:
    return [
        Route("/", sessions.home, methods=["GET"]),
        Route("/login", sessions.login_form, methods=["GET"]),
        Route("/login", sessions.login_submit, methods=["POST"]),
        Route("/logout", sessions.logout, methods=["POST"]),
        Route(f"{API}/login", guarded(sessions.api_login), methods=["POST"]),
    ]

