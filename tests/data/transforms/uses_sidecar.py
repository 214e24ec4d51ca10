"""A transform that imports the user's own module beside it and numpy's global generator."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy.random
import sidecar


def report(inputs: Path, output: Path) -> None:
    name = next(p.name for p in sorted(inputs.rglob("*")) if p.is_file())
    (output / f"{name}.json").write_text(json.dumps({
        "pid": os.getpid(), "imported_by": sidecar.IMPORTED_BY,
        "draw": float(numpy.random.rand()),   # nobody seeded it
    }))
