"""Run `flowyard` in-process through `main()` and capture its streams (the `cli` fixture)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest


@dataclass
class Result:
    code: int
    out: str
    err: str


def cli_runner(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    from flowyard.cli.main import main

    def invoke(*args: str) -> Result:
        capsys.readouterr()
        with pytest.raises(SystemExit) as info:
            main([str(a) for a in args])
        out, err = capsys.readouterr()
        code = info.value.code
        return Result(code if isinstance(code, int) else (0 if code is None else 1), out, err)

    return invoke
