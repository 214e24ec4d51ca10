"""`flowyard run` without typer: the same arguments as typer reads, and typer for the rest."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from flowyard.cli.output import OutputFormat
from flowyard.cli.running import RunArgs, quick_run_args

DATA = Path(__file__).parent / "data"
BASIC = f"{DATA / 'cli_basic.py'}:basic"

Cli = Callable[..., Any]


def typer_reads(argv: list[str]) -> RunArgs:
    """What typer hands `run_command` for `flowyard run ARGV`."""
    import typer.main

    from flowyard.cli.main import build_app

    group = typer.main.get_command(build_app())
    parent = group.make_context("flowyard", ["run"])
    command = group.get_command(parent, "run")
    assert command is not None
    p = command.make_context("run", list(argv), parent=parent).params
    return RunArgs(target=p["target"], param=list(p["param"] or []), no_cache=p["no_cache"],
                   detach=p["detach"], namespace=p["namespace"], output=p["output"])


@pytest.mark.parametrize("argv", [
    ["x.py:p"],
    ["x.py:p", "-p", "a=1", "--param", "b=x=y", "--param=c=3", "-p", "d="],
    ["-p", "a=1", "x.yaml", "--no-cache", "-d"],
    ["x.py", "--detach", "-n", "team-a", "--namespace=team-b", "-o", "json"],
    ["x.py", "--output=yaml", "--output", "table", "--no-cache", "--no-cache"],
    ["x.py", "--namespace="],
])
def test_quick_path_reads_what_typer_reads(argv: list[str]) -> None:
    quick = quick_run_args(["run", *argv])
    assert quick is not None
    assert quick == typer_reads(argv)


@pytest.mark.parametrize("argv", [
    ["run"],                               # missing TARGET: typer words the usage error
    ["run", "a.py", "b.py"],               # two targets
    ["run", "x.py", "-h"],
    ["run", "--help"],
    ["run", "x.py", "-pa=1"],              # short option glued to its value
    ["run", "x.py", "-p=a=1"],
    ["run", "x.py", "-dn", "ns"],          # grouped short options
    ["run", "x.py", "-p"],                 # option without its value
    ["run", "x.py", "-p", "-k=v"],         # a value that looks like an option
    ["run", "x.py", "-o", "xml"],          # not a format
    ["run", "x.py", "--cache"],            # unknown option
    ["run", "--", "x.py"],
    ["run", "-"],
    ["--server", "http://127.0.0.1:1", "run", "x.py"],
    ["runs", "list"],
    [],
])
def test_anything_else_goes_to_typer(argv: list[str]) -> None:
    assert quick_run_args(argv) is None


def test_both_ways_run_the_pipeline_alike(cli: Cli) -> None:
    quick = cli("run", BASIC, "-p", "count=4", "--no-cache", "-o", "json")
    typer_way = cli("run", BASIC, "-pcount=4", "--no-cache", "-o", "json")   # glued: typer
    assert quick.code == typer_way.code == 0, (quick.err, typer_way.err)
    a, b = json.loads(quick.out), json.loads(typer_way.out)
    for body in (a, b):
        for key in ("id", "created", "started", "finished", "duration"):
            body.pop(key, None)
    assert [s["state"] for s in a["steps"]] == [s["state"] for s in b["steps"]]
    assert (a["state"], a["parameters"], a["outputs"]) == (b["state"], b["parameters"],
                                                          b["outputs"])
    assert quick.err.splitlines()[-1].startswith("run ") and "Succeeded in" in quick.err


def test_bad_option_value_is_typer_s_usage_error(cli: Cli) -> None:
    result = cli("run", BASIC, "-o", "xml")
    assert result.code == 2
    assert "'xml' is not one of" in result.err


def test_a_plain_run_imports_neither_typer_nor_sqlalchemy(flowyard_home: Path) -> None:
    code = (
        "import atexit, sys\n"
        "atexit.register(lambda: print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'typer', 'click', 'sqlalchemy', 'yaml'}), file=sys.stderr))\n"
        "from flowyard.cli.main import main\n"
        f"main(['run', {BASIC!r}, '-o', 'json', '-p', 'count=2'])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["state"] == "Succeeded"
    assert done.stderr.splitlines()[-1] == "[]"


def test_quick_args_default_like_run_command() -> None:
    assert quick_run_args(["run", "x.py"]) == RunArgs(
        target="x.py", param=[], no_cache=False, detach=False, namespace=None,
        output=OutputFormat.table)
