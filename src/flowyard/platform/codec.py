"""JSON on the wire: store records and errors, encoded by the server, decoded by the client.

Kept free of heavy imports: `flowyard.client.http` uses it on every call.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import datetime
from typing import Any, TypeVar

from flowyard import errors
from flowyard.errors import FlowyardError, Problem, ResourceInvalid
from flowyard.store.values import replace_nonfinite

R = TypeVar("R")

ERROR_CLASSES: dict[str, type[FlowyardError]] = {
    cls.__name__: cls
    for cls in (errors.FlowyardError, errors.InvalidInput, errors.ResourceInvalid,
                errors.PipelineInvalid, errors.ConfigError, errors.NotFound,
                errors.Conflict, errors.RunFailed, errors.StoreError)
}


NON_FINITE = {math.inf: "Infinity", -math.inf: "-Infinity"}


def json_safe(value: Any) -> Any:
    """`value` with every non-finite float replaced by the string "Infinity", "-Infinity" or
    "NaN" (pydantic's `ser_json_inf_nan="strings"`), so that `json.dumps` writes valid JSON
    (strict parsers reject the bare `Infinity`/`NaN` tokens). The rule of every JSON
    Flowyard writes: `-o json` on the command line and the HTTP API's answers. A value that
    needs no change is returned as is."""
    return replace_nonfinite(value, lambda f: "NaN" if math.isnan(f) else NON_FINITE[f])


def encode_record(record: Any) -> dict[str, Any]:
    """A store dataclass as JSON-ready data (datetimes as ISO 8601)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(record):
        value = getattr(record, f.name)
        out[f.name] = value.isoformat() if isinstance(value, datetime) else value
    return out


def decode_record(cls: type[R], data: dict[str, Any]) -> R:
    """The inverse of `encode_record`; unknown keys (a newer server) are ignored."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in names:
            continue
        if key.endswith("_at") and isinstance(value, str):
            value = datetime.fromisoformat(value)
        kwargs[key] = value
    return cls(**kwargs)


def encode_error(exc: FlowyardError) -> dict[str, Any]:
    body: dict[str, Any] = {"code": type(exc).__name__, "message": exc.message,
                            "hint": exc.hint}
    if isinstance(exc, ResourceInvalid):
        body["problems"] = [
            {"message": p.message, "field": p.field, "file": p.file, "line": p.line,
             "value": _jsonable(p.value), "allowed": p.allowed}
            for p in exc.problems
        ]
    return {"error": body}


def decode_error(status: int, body: Any, where: str) -> FlowyardError:
    """The FlowyardError a server answer stands for; `where` names the request."""
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict) or "message" not in err:
        text = str(body)[:300]
        return errors.StoreError(f"{where}: HTTP {status} from the server: {text}",
                                 hint="is FLOWYARD_SERVER a Flowyard platform?")
    cls = ERROR_CLASSES.get(str(err.get("code")), _by_status(status))
    hint = err.get("hint")
    if issubclass(cls, ResourceInvalid):
        problems = [Problem(message=p.get("message", ""), field=p.get("field") or "",
                            file=p.get("file"), line=p.get("line"), value=p.get("value"),
                            allowed=p.get("allowed"))
                    for p in err.get("problems") or []]
        if problems:
            return cls(problems, hint=hint)
        return errors.InvalidInput(str(err["message"]), hint=hint)
    return cls(str(err["message"]), hint=hint)


def _by_status(status: int) -> type[FlowyardError]:
    return {400: errors.InvalidInput, 404: errors.NotFound, 409: errors.Conflict,
            422: errors.ResourceInvalid, 503: errors.StoreError}.get(status, FlowyardError)


def _jsonable(value: object) -> Any:
    if value is None or isinstance(value, str | int | float | bool | list | dict):
        return value
    return repr(value)
