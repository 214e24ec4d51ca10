"""The web dashboard: an HTML shell served at `/` after login, and its static files.

No front-end framework and no build step: small ES modules, CSS and inline SVG shipped as
package data under `static/`, served at `/ui/`. The pages talk only to the REST API
(same origin, the session cookie; writes send the session's CSRF token). See
docs/dashboard.md.
"""

from __future__ import annotations

import html
from functools import cache
from pathlib import Path
from typing import Any

from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"
PREFIX = "/ui"


class _Static(StaticFiles):
    """Static files that the browser revalidates every time (a cheap 304 through the ETag),
    so an upgraded Flowyard never runs a stale mix of modules."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


@cache
def _template() -> str:
    return (Path(__file__).parent / "shell.html").read_text(encoding="utf-8")


def shell(user: str, csrf: str) -> HTMLResponse:
    """The page every dashboard view lives in; the router (static/app.js) fills `#view`."""
    from flowyard import __version__

    page = (_template().replace("{{user}}", html.escape(user))
            .replace("{{csrf}}", html.escape(csrf))
            .replace("{{version}}", html.escape(str(__version__)))
            .replace("{{prefix}}", PREFIX))
    return HTMLResponse(page, headers={
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Content-Security-Policy": (
            "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
            "script-src 'self'; connect-src 'self'; frame-src 'self' blob: data:; "
            "object-src 'none'; base-uri 'none'; form-action 'self'; "
            "frame-ancestors 'self'")})


def static_mount() -> Mount:
    return Mount(PREFIX, app=_Static(directory=STATIC), name="dashboard")
