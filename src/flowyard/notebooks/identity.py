"""Jupyter's login, replaced: only the platform gateway, holding a per-server secret, gets in.

Loaded inside the Jupyter Server process (`--ServerApp.identity_provider_class`). Jupyter's
own `token` stays empty on purpose: JupyterLab copies that token into every page it serves
(`page_config.token`), so a real token there would reach the user's browser. The secret
arrives in `FLOWYARD_NOTEBOOK_SECRET` and is removed from the environment at once, so the
kernels this server starts never inherit it. A request is the gateway's when it carries
`Authorization: token <secret>`; the user's name comes from `X-Flowyard-User`, which the
gateway sets after the platform's own login (clients can never set it themselves).
"""

from __future__ import annotations

import hmac
import os
from typing import Any

from jupyter_server.auth.identity import IdentityProvider, User
from traitlets import default

SECRET_ENV = "FLOWYARD_NOTEBOOK_SECRET"
USER_HEADER = "X-Flowyard-User"


class GatewayIdentityProvider(IdentityProvider):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._secret = os.environ.pop(SECRET_ENV, "")
        if not self._secret:
            raise RuntimeError(f"{SECRET_ENV} is not set: this server would accept no one")

    @default("token")
    def _token_default(self) -> str:
        return ""  # see the module docstring: JupyterLab would publish it

    def get_user(self, handler: Any) -> User | None:
        given = handler.request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"token {self._secret}".encode()):
            return None
        # Token-authenticated: Jupyter then skips its XSRF and Origin checks, which the
        # gateway's own login and CSRF rules already cover.
        handler._token_authenticated = True
        name = handler.request.headers.get(USER_HEADER) or "flowyard"
        return User(username=name, name=name, display_name=name)

    @property
    def login_available(self) -> bool:
        return False  # the platform's /login is the only login

    @property
    def logout_available(self) -> bool:
        return False
