"""The V2 infer hot path, served before Starlette's routing and middleware.

With microsecond models the HTTP layer is the cost: Starlette's middleware stack, router,
`Request`/`Response` objects and header wrappers took over a third of the server's CPU per
infer call. `ServingApp` answers `POST /v2/models/{m}[/versions/{v}]/infer` straight from
the ASGI messages, through the same `infer_answer` and `error_body` the Starlette route uses,
so semantics (404 before 413, 413 before parsing, `{"error": ...}` bodies) stay identical;
every other request, and lifespan, goes to the Starlette app underneath.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

from flowyard.serving.dataplane import DataPlane
from flowyard.serving.rest import (
    JSON,
    PREDICTOR_HEADERS,
    error_body,
    infer_answer,
    too_large,
)

_PREDICTOR_KEYS = tuple(h.encode() for h in PREDICTOR_HEADERS)
_JSON_TYPE = JSON.encode()


def match_infer(path: str) -> tuple[str, str | None] | None:
    """(model, version) when `path` is a V2 infer route, else None."""
    if not path.startswith("/v2/models/") or not path.endswith("/infer"):
        return None
    parts = path[11:-6].split("/")
    if len(parts) == 1 and parts[0]:
        return parts[0], None
    if len(parts) == 3 and parts[1] == "versions" and parts[0] and parts[2]:
        return parts[0], parts[2]
    return None


class ServingApp(Starlette):
    """The serving ASGI app: Starlette, with the infer route answered ahead of it."""

    dataplane: DataPlane
    max_request_bytes: int

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            found = match_infer(scope["path"])
            if found is not None:
                await self._infer(found[0], found[1], scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    async def _infer(self, name: str, version: str | None, scope: Scope, receive: Receive,
                     send: Send) -> None:
        headers: list[tuple[bytes, bytes]] = [(b"content-type", _JSON_TYPE)]
        try:
            declared = header_length = None
            predictors: dict[bytes, str] = {}
            for key, value in scope["headers"]:
                if key == b"content-length":
                    declared = value.decode("latin-1")
                elif key == b"inference-header-content-length" and header_length is None:
                    header_length = value.decode("latin-1")
                elif key in _PREDICTOR_KEYS and key not in predictors:
                    predictors[key] = value.decode("latin-1")
            predictor = next((predictors[k] for k in _PREDICTOR_KEYS if predictors.get(k)),
                             None)
            dp, limit = self.dataplane, self.max_request_bytes
            dp.check_model(name, version)  # an unknown model is a 404 whatever the body
            if declared and declared.isdigit() and int(declared) > limit:
                raise too_large(limit, declared)
            body = await _read_body(receive, limit)
            if body is None:
                return  # the client went away
            text, media, json_len = await infer_answer(dp, name, version, body,
                                                       header_length, predictor)
            status = 200
            if json_len is not None:
                headers = [(b"content-type", media.encode()),
                           (b"inference-header-content-length", str(json_len).encode())]
        except Exception as exc:  # every error becomes a response, as in rest._guard
            status, text = error_body(exc)
        headers.append((b"content-length", str(len(text)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": text})


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    message: Any = await receive()
    if message["type"] != "http.request":
        return None
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):  # the common case: one message
        if len(body) > limit:
            raise too_large(limit)
        return body
    chunks, size = [body], len(body)
    while True:  # chunked or large bodies: stop as soon as the limit is passed
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
