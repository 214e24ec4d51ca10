"""The HTTP API writes valid JSON for non-finite floats (a run parameter of `inf`): the
strings "Infinity", "-Infinity", "NaN", as `-o json` does, instead of a 500."""

from __future__ import annotations

import json
import math
from typing import Any

from flowyard.platform.api import JSONResponse, sse
from flowyard.platform.codec import json_safe


def strict(text: str | bytes) -> Any:
    def refuse(constant: str) -> Any:
        raise AssertionError(f"bare {constant}")

    return json.loads(text, parse_constant=refuse)


def test_json_response_writes_non_finite_floats_as_strings() -> None:
    body = {"parameters": {"t": math.inf, "u": -math.inf, "v": math.nan, "w": 0.5},
            "items": [(math.inf, "x")]}
    rendered = JSONResponse(body).body
    assert strict(rendered) == {"parameters": {"t": "Infinity", "u": "-Infinity", "v": "NaN",
                                               "w": 0.5},
                                "items": [["Infinity", "x"]]}
    assert strict(sse("run", {"o": math.inf}).decode().split("data: ")[1]) == {"o": "Infinity"}


def test_json_safe_leaves_everything_else_alone() -> None:
    value = {"a": [1, 2.5, "Infinity", None, True], "b": {"c": -0.0}}
    assert json_safe(value) == value


def test_every_platform_module_answers_with_the_safe_response() -> None:
    """The dashboard's graphs, the data, notebook, volume, profile, serving-stats and gateway
    endpoints too: any of them can carry a run's `inf` parameter or a NaN statistic."""
    import importlib

    from flowyard.platform import responses

    for name in ("api", "data_api", "gateway", "notebook_api", "profiles", "serving_stats",
                 "session", "views", "volume_api"):
        module = importlib.import_module(f"flowyard.platform.{name}")
        assert module.JSONResponse is responses.JSONResponse, name
