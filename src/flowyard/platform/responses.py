"""The JSON response every platform endpoint answers with.

Starlette's JSONResponse refuses non-finite floats (a run parameter of `inf`, a NaN metric)
with a 500. This one writes them as the strings "Infinity", "-Infinity", "NaN"
(codec.json_safe, the rule docs/resources.md gives for all of Flowyard's JSON); ordinary
content renders exactly as before, at no extra cost.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse as _JSONResponse

from flowyard.platform.codec import json_safe


class JSONResponse(_JSONResponse):
    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except ValueError:   # "Out of range float values are not JSON compliant"
            return super().render(json_safe(content))
