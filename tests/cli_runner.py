"""Run `flowyard` in-process through `main()` and capture its streams (the `cli` fixture,
and `run_cli` for tests that called `python -m flowyard.cli.main` as a subprocess)."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
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


def run_cli(*args: str, env: Mapping[str, str], input: str | None = None
            ) -> subprocess.CompletedProcess[str]:
    """`python -m flowyard.cli.main ARGS` with exactly `env` as its environment, run in this
    process: the same exit code, stdout and stderr, without an interpreter start and its
    imports (about 0.6 s of CPU each, and the platform tests make dozens). For commands that
    return; `flowyard up` stays a real process."""
    code, out, err = _in_process(args, env, None if input is None else input.encode())
    return subprocess.CompletedProcess(["flowyard", *args], code, out.decode(), err.decode())


def run_cli_bytes(*args: str, env: Mapping[str, str], input: bytes | None = None
                  ) -> subprocess.CompletedProcess[bytes]:
    """`run_cli` with bytes in and out, as `subprocess.run` without `text=True`."""
    code, out, err = _in_process(args, env, input)
    return subprocess.CompletedProcess(["flowyard", *args], code, out, err)


def _in_process(args: tuple[str, ...], env: Mapping[str, str], input: bytes | None
                ) -> tuple[int, bytes, bytes]:
    from flowyard.cli.main import main

    saved_env, saved_stdin = dict(os.environ), sys.stdin
    # Text streams over bytes, as a process has: `data get` writes to sys.stdout.buffer.
    out, err = (io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
                for _ in range(2))
    os.environ.clear()
    os.environ.update(env)
    sys.stdin = io.TextIOWrapper(io.BytesIO(input or b""), encoding="utf-8")  # no input: EOF
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main([str(a) for a in args])
                code: object = 0
            except SystemExit as exit_:
                code = exit_.code
            if isinstance(code, str):  # sys.exit("message"): printed, exit status 1
                sys.stderr.write(code + "\n")
    finally:
        sys.stdin = saved_stdin
        os.environ.clear()
        os.environ.update(saved_env)
    status = code if isinstance(code, int) else (0 if code is None else 1)
    return (status, out.buffer.getvalue(),  # type: ignore[attr-defined]
            err.buffer.getvalue())  # type: ignore[attr-defined]
