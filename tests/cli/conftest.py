"""CLI test helpers: run `flowyard` in-process through `main()` and capture its streams."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).parent / "data"


