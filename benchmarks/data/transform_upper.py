"""The benchmark's datum transform: each input file upper-cased at the same path."""

from __future__ import annotations

from pathlib import Path


def upper(inputs: Path, output: Path) -> None:
    for path in sorted(inputs.rglob("*")):
        if path.is_file():
            dest = output.joinpath(*path.relative_to(inputs).parts[1:])  # drop the input name
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(path.read_bytes().upper())
