"""How record values become column values, shared by both ways into the metadata database.

JSON columns hold `json.dumps` text, timestamps are aware UTC in Python and, on SQLite, naive
UTC text in SQLAlchemy's SQLite format (`2026-01-02 03:04:05.123456`). The SQLAlchemy path
(sql_store.py, through schema.py's types) and the sqlite3 path (native_sqlite.py) both use
these, so a row written by one reads back identically through the other.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Final

from flowyard.errors import InvalidInput

SQLITE_DATETIME: Final = "%04d-%02d-%02d %02d:%02d:%02d.%06d"
"""SQLAlchemy's storage format for DateTime on SQLite (sqlalchemy.dialects.sqlite.DATETIME)."""


def json_dumps(value: Any) -> str:
    """JSON text of a record field; InvalidInput (the same on every backend) if it has none."""
    if not value and type(value) in (dict, list):
        return "{}" if type(value) is dict else "[]"   # most step columns; json.dumps: ~3 µs
    try:
        return json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"value cannot be stored in the metadata store: {exc}",
            hint="record fields must hold JSON values (str, int, float, bool, None, list, dict)",
        ) from exc


def json_loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


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
