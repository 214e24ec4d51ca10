"""CLI test helpers: run `flowyard` in-process through `main()` and capture its streams."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], flowyard_home: Path) -> Callable[..., Result]:
    """`cli("runs", "list")` -> Result(code, stdout, stderr), through the real error contract."""
    from flowyard.cli.main import main

    def invoke(*args: str) -> Result:
        capsys.readouterr()
        with pytest.raises(SystemExit) as info:
            main([str(a) for a in args])
        out, err = capsys.readouterr()
        code = info.value.code
        return Result(code if isinstance(code, int) else (0 if code is None else 1), out, err)

    return invoke
