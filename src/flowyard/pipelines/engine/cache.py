"""The step cache key: content, never names or paths.

blake3 over canonical JSON of the component spec (its source included), the resolved input
parameter values and the digests of the input artifacts. Renaming a step, moving a file or
re-running with the same bytes hits; changing one byte of an input or the source misses.
"""

from __future__ import annotations

import json
from typing import Any

import blake3


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=repr).encode()


def cache_key(component: dict[str, Any], parameters: dict[str, Any],
              artifact_digests: dict[str, Any]) -> str:
    payload = canonical_json({"component": component, "parameters": parameters,
                              "artifacts": artifact_digests, "v": 1})
    return "blake3:" + blake3.blake3(payload).hexdigest()
