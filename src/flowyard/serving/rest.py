"""REST adapters: V2 inference protocol, Seldon v1, health and /metrics on one ASGI app.

Handlers only translate between HTTP and `DataPlane`; errors from the Flowyard tree map to
their `status` with an `{"error": message}` body, anything else to 500.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from flowyard.errors import FlowyardError, InvalidInput
from flowyard.serving.dataplane import DataPlane
from flowyard.serving.errors import PayloadTooLarge
from flowyard.serving.protocols import seldon, v2

log = logging.getLogger(__name__)
Handler = Callable[[Request], Awaitable[Response]]
PREDICTOR_HEADERS = ("x-flowyard-predictor", "seldon-predictor")
JSON = "application/json"


def json_response(body: Any, status: int = 200) -> Response:
    return Response(v2.dumps_json(body), status, media_type=JSON)


def error_body(exc: Exception) -> tuple[int, bytes]:
    """(status, JSON body) for any exception a handler let through."""
    if isinstance(exc, FlowyardError):
        return exc.status, v2.dumps_json({"error": str(exc)})
    log.exception("internal error while serving a request")
    return 500, v2.dumps_json({"error": f"internal error: {type(exc).__name__}: {exc}"})


def error_response(exc: Exception) -> Response:
    status, body = error_body(exc)
    return Response(body, status, media_type=JSON)


def too_large(max_request_bytes: int, declared: str | None = None) -> PayloadTooLarge:
    what = f"request body of {declared} bytes exceeds" if declared else "request body exceeds"
    return PayloadTooLarge(f"{what} the limit of {max_request_bytes} bytes",
                           hint="raise it with --max-request-bytes")


async def infer_answer(dp: DataPlane, name: str, version: str | None, body: bytes,
                       header_length: str | None, predictor: str | None
                       ) -> tuple[bytes, str, int | None]:
    """A V2 infer body -> (response body, media type, JSON header length if binary)."""
    if header_length is not None and not header_length.isdigit():
        raise InvalidInput(f"Inference-Header-Content-Length must be an integer, got "
                           f"{header_length!r}")
    req = v2.decode_request(body, int(header_length) if header_length is not None else None)
    outputs, params = await dp.infer(name, version, req, predictor=predictor)
    text, json_len = v2.encode_response(model_name=name, model_version=version, request=req,
                                        outputs=outputs, parameters=params)
    return text, JSON if json_len is None else "application/octet-stream", json_len


def _guard(handler: Handler) -> Handler:
    async def guarded(request: Request) -> Response:
        try:
            return await handler(request)
        except Exception as exc:  # the one place every handler error becomes a response
            return error_response(exc)
    guarded.__name__ = handler.__name__
    return guarded


def _predictor_header(request: Request) -> str | None:
    for name in PREDICTOR_HEADERS:
        value = request.headers.get(name)
        if value:
            return value
    return None


def build_routes(dp: DataPlane, *, max_request_bytes: int) -> list[BaseRoute]:
    """Every route of the serving API, bound to one data plane."""

    async def body_of(request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > max_request_bytes:
            raise too_large(max_request_bytes, declared)
        chunks, size = [], 0
        async for chunk in request.stream():  # stop early on chunked bodies too
            size += len(chunk)
            if size > max_request_bytes:
                raise too_large(max_request_bytes)
            chunks.append(chunk)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def live(request: Request) -> Response:
        return json_response({"live": dp.live()})

    async def ready(request: Request) -> Response:
        reason = dp.not_ready()
        if reason:
            return json_response({"ready": False, "reason": reason}, 503)
        return json_response({"ready": True})

    async def server_metadata(request: Request) -> Response:
        return json_response(dp.server_metadata())

    def _version(request: Request) -> str | None:
        value = request.path_params.get("version")
        return str(value) if value is not None else None

    async def model_metadata(request: Request) -> Response:
        return json_response(dp.model_metadata(request.path_params["model"], _version(request)))

    async def model_ready(request: Request) -> Response:
        name = request.path_params["model"]
        reason = dp.model_not_ready(name, _version(request))
        if reason:
            return json_response({"name": name, "ready": False, "reason": reason}, 503)
        return json_response({"name": name, "ready": True})

    async def infer(request: Request) -> Response:
        name, version = request.path_params["model"], _version(request)
        dp.check_model(name, version)  # an unknown model is a 404 whatever the body holds
        body = await body_of(request)
        text, media, json_len = await infer_answer(dp, name, version, body,
                                                   request.headers.get(v2.HEADER_LENGTH),
                                                   _predictor_header(request))
        if json_len is None:
            return Response(text, 200, media_type=media)
        return Response(text, 200, media_type=media,
                        headers={"Inference-Header-Content-Length": str(json_len)})

    async def repository_index(request: Request) -> Response:
        return json_response(dp.repository_index())

    async def seldon_predict(request: Request) -> Response:
        body = v2.loads_json(await body_of(request))
        payload, form = seldon.decode_message(body)
        pred = await dp.predict(payload, predictor=_predictor_header(request))
        return json_response(seldon.encode_prediction(pred, form))

    async def seldon_feedback(request: Request) -> Response:
        body = v2.loads_json(await body_of(request))
        done = dp.feedback(seldon.decode_feedback(body))
        return json_response({"meta": done.meta()})

    async def seldon_ping(request: Request) -> Response:
        return Response(b"pong", 200, media_type="text/plain")

    async def metrics(request: Request) -> Response:
        text = generate_latest(dp.engine.metrics.registry)
        return Response(text, 200, media_type=CONTENT_TYPE_LATEST)

    from flowyard.serving.stats import StatsBook

    book = StatsBook(dp.engine)

    async def stats(request: Request) -> Response:
        """Requests, rate, latency, traffic split and router arms as JSON (serving/stats.py)."""
        return json_response(book.document())

    g = _guard
    model = "/v2/models/{model}"
    versioned = "/v2/models/{model}/versions/{version}"
    return [  # the hot routes first: Starlette tries them in order
        Route(f"{model}/infer", g(infer), methods=["POST"]),
        Route("/api/v1.0/predictions", g(seldon_predict), methods=["POST"]),
        Route("/v2/health/live", g(live), methods=["GET"]),
        Route("/v2/health/ready", g(ready), methods=["GET"]),
        Route("/v2", g(server_metadata), methods=["GET"]),
        Route("/v2/repository/index", g(repository_index), methods=["POST", "GET"]),
        Route(model, g(model_metadata), methods=["GET"]),
        Route(versioned, g(model_metadata), methods=["GET"]),
        Route(f"{model}/ready", g(model_ready), methods=["GET"]),
        Route(f"{versioned}/ready", g(model_ready), methods=["GET"]),
        Route(f"{versioned}/infer", g(infer), methods=["POST"]),
        Route("/api/v1.0/feedback", g(seldon_feedback), methods=["POST"]),
        # What Seldon Core's executor calls on a MODEL container (its microservice API), so a
        # `flowyard serve` container can be a node of a SeldonDeployment (kube/seldon.py).
        Route("/predict", g(seldon_predict), methods=["POST"]),
        Route("/send-feedback", g(seldon_feedback), methods=["POST"]),
        Route("/health/ping", g(seldon_ping), methods=["GET"]),
        Route("/health/status", g(ready), methods=["GET"]),
        Route("/metrics", g(metrics), methods=["GET"]),
        Route("/stats", g(stats), methods=["GET"]),
    ]
