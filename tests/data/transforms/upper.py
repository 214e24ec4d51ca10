"""Test transforms for data pipelines (loaded by file path, run in a datum process)."""

from __future__ import annotations

import os
import time
from pathlib import Path


def upper(inputs: Path, output: Path) -> None:
    """Each input file, upper-cased, at the same path under the output."""
    for path in sorted(inputs.rglob("*")):
        if path.is_file():
            rel = path.relative_to(inputs).parts[1:]  # drop the input name
            dest = output.joinpath(*rel)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(path.read_bytes().upper())


def fails_on_bad(inputs: Path, output: Path) -> None:
    for path in inputs.rglob("*"):
        if path.is_file() and b"bad" in path.read_bytes():
            print(f"cannot process {path.name}: it is bad")
            raise SystemExit(3)
    upper(inputs, output)


def hangs(inputs: Path, output: Path) -> None:
    time.sleep(60)


def pairs(inputs: Path, output: Path) -> None:
    """Concatenate everything in the datum into one file named after the join key."""
    names = sorted(p.name for p in inputs.rglob("*") if p.is_file())
    key = names[0].split(".")[0]
    (output / f"{key}.txt").write_text(",".join(names) + os.linesep)
