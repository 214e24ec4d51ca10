"""`key=value` strings (the CLI's `-p`) into a parameter mapping.

Values stay text here: the engine checks names against the pipeline and converts each
value to its declared type (`flowyard.pipelines.validate.validate_parameters`), so
`-p test_size=0.3` becomes a float and `-p kinds='["a","b"]'` a list, on every transport.
"""

from __future__ import annotations

from collections.abc import Iterable

from flowyard.errors import InvalidInput


def parse_assignments(items: Iterable[str], *, option: str = "-p") -> dict[str, str]:
    """`["a=1", "b=x=y"]` -> `{"a": "1", "b": "x=y"}`; a missing `=` or key is bad input."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InvalidInput(
                f"{option} {item!r}: expected KEY=VALUE",
                hint=f"e.g. {option} test_size=0.3",
            )
        if key in out:
            raise InvalidInput(f"{option} {key}=... given twice ({out[key]!r} and {value!r})",
                               hint="pass each parameter once")
        out[key] = value
    return out
