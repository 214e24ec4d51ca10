"""Graph problems found by the static checks name file:line on every road: `flowyard run`
(the engine's check on submit) as `flowyard validate` does, for YAML files (the line of the
offending field) and SDK pipelines (the line of the call that wired it)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).parent / "data"
YAML = DATA / "bad_graphs.yaml"
PY = DATA / "bad_graphs.py"

Cli = Callable[..., Any]


def line_of(path: Path, marker: str) -> int:
    """The 1-based line of `path` holding the comment `marker`."""
    lines = path.read_text(encoding="utf-8").splitlines()
    [found] = [n for n, text in enumerate(lines, 1) if text.rstrip().endswith(marker)]
    return found


YAML_CASES = [
    ("unknown-step", "unknown step (got 'nope')"),
    ("cycle", "steps wait for each other in a cycle: a -> b -> a"),
    ("type-mismatch", "input 'text' takes str, but output 'Output' of step 'count' (int)"),
]
PY_CASES = [
    ("wrong_artifact", "artifact input 'model' takes a Model, but output 'data' of step 'make'"),
    ("after_cycle", "steps wait for each other in a cycle: nop -> nop-2 -> nop"),
]


def _located(err: str, path: Path, line: int, message: str) -> None:
    assert "Traceback" not in err
    [problem] = [text for text in err.splitlines() if message in text]
    # The file as the user named it, then the line of the field that is wrong.
    assert f"{path}:{line}: spec." in problem, problem


@pytest.mark.parametrize(("name", "message"), YAML_CASES)
def test_run_of_a_yaml_pipeline_names_the_line_like_validate(
    cli: Cli, name: str, message: str
) -> None:
    line = line_of(YAML, f"# {name}: here")
    run = cli("run", f"{YAML}:{name}")
    assert run.code == 2
    assert run.err.startswith("Invalid pipeline: ")
    _located(run.err, YAML, line, message)
    # Nothing was recorded: the check runs before the run exists.
    assert "no runs yet" in cli("runs", "list").out + cli("runs", "list").err
    validate = cli("validate", str(YAML))
    assert validate.code == 2
    _located(validate.err, YAML, line, message)


@pytest.mark.parametrize(("name", "message"), PY_CASES)
def test_run_of_an_sdk_pipeline_names_the_line_of_the_call(
    cli: Cli, name: str, message: str
) -> None:
    line = line_of(PY, f"# {name}: here")
    run = cli("run", f"{PY}:{name}")
    assert run.code == 2
    assert run.err.startswith("Invalid pipeline: ")
    assert f"{PY}:{line}: " in run.err
    assert message in run.err and "Traceback" not in run.err
    validate = cli("validate", f"{PY}:{name}")
    assert validate.code == 2
    assert f"{PY}:{line}: " in validate.err and message in validate.err


def test_run_of_a_valid_yaml_pipeline_still_runs(cli: Cli, tmp_path: Path) -> None:
    # The located check must not get in the way of a good file.
    good = tmp_path / "good.yaml"
    text = YAML.read_text(encoding="utf-8").split("---")[1]
    good.write_text(text.replace("after: [b]                     # cycle: here", ""),
                    encoding="utf-8")
    result = cli("run", str(good))
    assert result.code == 0, result.err
