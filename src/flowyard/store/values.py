"""How record values become column values, shared by both ways into the metadata database.

JSON columns hold `json.dumps` text, timestamps are aware UTC in Python and, on SQLite, naive
UTC text in SQLAlchemy's SQLite format (`2026-01-02 03:04:05.123456`). The SQLAlchemy path
(sql_store.py, through schema.py's types) and the sqlite3 path (native_sqlite.py) both use
these, so a row written by one reads back identically through the other.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

from flowyard.errors import InvalidInput

SQLITE_DATETIME: Final = "%04d-%02d-%02d %02d:%02d:%02d.%06d"
"""SQLAlchemy's storage format for DateTime on SQLite (sqlalchemy.dialects.sqlite.DATETIME)."""


NONFINITE: Final = "$nonfinite"
"""Key of the object a non-finite float is stored as ({"$nonfinite": "inf"}): JSON has no
Infinity or NaN, and PostgreSQL refuses the bare tokens Python's json writes for them. A
parameter such as `t: float = float("inf")` must still read back as a float."""


def json_dumps(value: Any) -> str:
    """JSON text of a record field; InvalidInput (the same on every backend) if it has none."""
    if not value and type(value) in (dict, list):
        return "{}" if type(value) is dict else "[]"   # most step columns; json.dumps: ~3 µs
    try:
        return json.dumps(value, allow_nan=False)
    except ValueError:
        try:   # a non-finite float somewhere (rare): written as its marker object
            return json.dumps(_mark_nonfinite(value), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise _not_json(exc) from exc
    except TypeError as exc:
        raise _not_json(exc) from exc


def json_loads(text: str | bytes | None) -> Any:
    if text is None:
        return None
    marker = NONFINITE if isinstance(text, str) else NONFINITE.encode()
    if marker in text:   # type: ignore[operator]
        return json.loads(text, object_hook=_unmark_nonfinite)
    return json.loads(text)


def _not_json(exc: Exception) -> InvalidInput:
    return InvalidInput(
        f"value cannot be stored in the metadata store: {exc}",
        hint="record fields must hold JSON values (str, int, float, bool, None, list, dict)",
    )


def replace_nonfinite(value: Any, replace: Callable[[float], Any]) -> Any:
    """`value` (JSON-like data) with each non-finite float `f` replaced by `replace(f)`; the
    walk behind both the store's marker objects and the strings of Flowyard's JSON output."""
    if isinstance(value, float):
        return value if math.isfinite(value) else replace(value)
    if isinstance(value, dict):
        return {k: replace_nonfinite(v, replace) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [replace_nonfinite(v, replace) for v in value]
    return value


def _mark_nonfinite(value: Any) -> Any:
    return replace_nonfinite(value, lambda f: {NONFINITE: "nan" if math.isnan(f) else (
        "inf" if f > 0 else "-inf")})


def _unmark_nonfinite(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and obj.get(NONFINITE) in ("inf", "-inf", "nan"):
        return float(obj[NONFINITE])
    return obj


def as_utc(value: object) -> datetime:
    """The aware UTC datetime of a timestamp; a naive one is taken to be UTC already (what
    both ways into the database store and return)."""
    if not isinstance(value, datetime):
        raise not_a_datetime(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def sqlite_datetime(value: datetime | None) -> str | None:
    """A timestamp as SQLite text (naive UTC)."""
    if value is None:
        return None
    value = as_utc(value)
    return SQLITE_DATETIME % (value.year, value.month, value.day, value.hour, value.minute,
                              value.second, value.microsecond)


def not_a_datetime(value: object) -> InvalidInput:
    return InvalidInput(
        f"timestamp {value!r} is a {type(value).__name__}, not a datetime",
        hint="pass an aware datetime, e.g. flowyard.store.records.utcnow()",
    )


def sqlite_datetime_value(text: str | None) -> datetime | None:
    """The aware UTC datetime of SQLite timestamp text (what SQLAlchemy's UTCDateTime returns)."""
    return None if text is None else as_utc(datetime.fromisoformat(text))
